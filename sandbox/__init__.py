"""A laptop stand-in for Meta (a WhatsApp phone page, the Graph API, the Flows client) and for
Xendit (the API, a checkout page). The product never imports this package, and this package
imports nothing of the product: the two speak only over HTTP, as the real services do.

    python -m sandbox        # what `make run` starts when WHATSAPP_ACCESS_TOKEN is unset
"""
