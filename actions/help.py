"""Help: what the assistant can do, and what this business offers (from the catalog)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import BookingAction, business_id_for, in_thread


class ActionShowHelp(BookingAction):
    """Explains the assistant and lists the business's service categories."""

    def name(self) -> Text:
        return "action_show_help"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        business_id = business_id_for(tracker)
        catalog = await in_thread(lambda core: core.catalog)
        business = catalog.business(business_id)
        categories = ", ".join(c.name for c in catalog.categories_of(business_id))
        dispatcher.utter_message(
            response="utter_help", business_name=business.name, categories=categories)
        return []
