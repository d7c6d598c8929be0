"""What the Rasa server loads of ours: the WhatsApp Cloud API channel (``whatsapp/``), the Xendit
callbacks and payment news (``xendit/``), the bounded tracker store, the request guard of the
webhook handlers and our fixes to Rasa itself (``rasa_patches.py``).

Importing this package masks every log record of the process (``booking.logsafe``): phone
numbers, payment links and tokens never reach the Rasa server's logs in full.
"""
from booking import logsafe

logsafe.install()
