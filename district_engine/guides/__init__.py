"""Exclusive shopping guides (专属导购): guides of an operator's stores, the members they serve,
orders attributed to the guide who held the member and to the campaign that converted it, refunds,
and a ledger every figure is recomputed from. Pure rules in ``rules.py``, records in ``model.py``;
``service.py`` applies them against the store (store/guides.py)."""

from district_engine.guides.model import Guide, OrderRecord, RefundRecord
from district_engine.guides.service import Guides, Membership, NewOrder, OrderOutcome, RefundOutcome

__all__ = ["Guide", "Guides", "Membership", "NewOrder", "OrderOutcome", "OrderRecord", "RefundOutcome",
           "RefundRecord"]
