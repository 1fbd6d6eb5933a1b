"""The composition root: one Redis client in, the engine's stores and services out, wired.

Each service owns one domain and orchestrates its pure rules against its stores; the API's routers
each depend on one of them (api/deps.py), a worker on the few it runs. Nothing here holds a rule:
this module only decides what is built from what.
"""

from __future__ import annotations

from dataclasses import dataclass

from district_engine.broadcasts import Broadcasts
from district_engine.campaigns.service import Campaigns
from district_engine.catalog import Catalog
from district_engine.channel import JUMP_RULE, Channel
from district_engine.clock import Clock, utcnow
from district_engine.delivery.endpoints import Endpoints
from district_engine.delivery.events import user_json
from district_engine.districts.maps import Maps
from district_engine.districts.service import Districts
from district_engine.guides import Guides
from district_engine.jobs import Jobs
from district_engine.parking.payments import PaymentGateway
from district_engine.parking.service import Parking
from district_engine.quotas import Quotas
from district_engine.redenvelope.service import Rains
from district_engine.store.campaigns import CampaignStore
from district_engine.store.channels import ChannelStore
from district_engine.store.deliveries import DeliveryStore
from district_engine.store.districts import DistrictStore
from district_engine.store.endpoints import EndpointStore
from district_engine.store.fanout import FanoutQueue
from district_engine.store.guides import GuideStore
from district_engine.store.layout import partition_count
from district_engine.store.locations import LocationQueue
from district_engine.store.operators import OperatorStore
from district_engine.store.outbox import Outbox
from district_engine.store.parking import ParkingStore
from district_engine.store.rains import RainStore
from district_engine.store.ratelimits import RateLimits
from district_engine.store.schedule import Schedule

__all__ = ["Engine", "Stores"]


@dataclass(frozen=True)
class Stores:
    """Every store on the one client: what the services are built from (and what tests and tools
    that look under the services read)."""

    districts: DistrictStore
    campaigns: CampaignStore
    operators: OperatorStore
    channels: ChannelStore
    deliveries: DeliveryStore
    schedule: Schedule
    locations: LocationQueue
    fanout: FanoutQueue
    endpoints: EndpointStore
    outbox: Outbox
    parking: ParkingStore
    rains: RainStore
    limits: RateLimits
    guides: GuideStore


class Engine:
    """The services on one Redis client: ``catalog`` (the live view), ``districts``, ``maps``,
    ``campaigns``, ``channel`` (feeds and locations), ``broadcasts``, ``jobs``, ``rains``,
    ``parking``, ``endpoints`` (push) and ``guides``; ``stores`` beneath them."""

    def __init__(self, client, position_ttl_s: int = 1800, reentry_gap_s: int = 900,
                 grab_limits: tuple[int, int, int] = (5, 200, 50_000), grab_window_s: float = 10.0,
                 wait: tuple[int, int] = (0, 200), max_pushes_per_hour: int = 5,
                 payment_gateway: PaymentGateway | None = None, on_payment_failure: str = "open_and_bill",
                 parking_retry_s: float = 30.0, clock: Clock = utcnow, partitions: int | None = None,
                 parking_charge_attempts: int = 5, quotas: Quotas = Quotas(), guides: dict | None = None,
                 max_endpoints_per_owner: int = 10, private_webhooks_allowed: bool = False):
        """``partitions``: for a new deployment, how many partitions its users are spread over
        (None: 16); an existing one keeps the count it was laid out with (store/layout.py).
        ``quotas``: what one tenant may create (district_engine/quotas.py; none by default).
        ``guides``: the guides service's options (district_engine/guides/service.py)."""
        self.client = client
        self.clock = clock
        self.partitions = partition_count(client, partitions)
        s = self.stores = Stores(
            districts=DistrictStore(client), campaigns=CampaignStore(client), operators=OperatorStore(client),
            channels=ChannelStore(client),
            deliveries=DeliveryStore(client, user_json=user_json, reentry_gap_ms=reentry_gap_s * 1000,
                                     pushes_per_window=max_pushes_per_hour, position_ttl_ms=position_ttl_s * 1000,
                                     partitions=self.partitions, jump=JUMP_RULE),
            schedule=Schedule(client), locations=LocationQueue(client, self.partitions),
            fanout=FanoutQueue(client, self.partitions), endpoints=EndpointStore(client),
            outbox=Outbox(client, partitions=self.partitions), parking=ParkingStore(client),
            rains=RainStore(client, wait_replicas=wait[0], wait_ms=wait[1]), limits=RateLimits(client),
            guides=GuideStore(client))
        self.catalog = Catalog(client, s.districts, s.campaigns)
        # The guides service is also the member directory of members-only campaigns.
        self.guides = Guides(s.guides, clock=clock, districts=s.districts, channels=s.channels, campaigns=s.campaigns,
                             gifts_of=s.deliveries.gifts, gifts_of_many=s.deliveries.gifts_many, **(guides or {}))
        self.parking = Parking(s.parking, gateway=payment_gateway, on_payment_failure=on_payment_failure,
                               retry_s=parking_retry_s, clock=clock, catalog=self.catalog,
                               lots_per_district=quotas.lots_per_district, wait=wait,
                               charge_attempts=parking_charge_attempts)
        self.districts = Districts(s.districts, s.campaigns, self.catalog, clock, quotas)
        self.maps = Maps(self.catalog, s.deliveries, clock)
        self.channel = Channel(self.catalog, s.deliveries, s.locations, clock, members=self.guides,
                               free_spaces=self.parking.free_spaces)
        self.broadcasts = Broadcasts(self.catalog, s.deliveries, s.fanout, clock, members=self.guides)
        self.jobs = Jobs(s.schedule, self.catalog, self.broadcasts, s.rains, clock)
        self.campaigns = Campaigns(s.campaigns, self.catalog, s.rains, s.deliveries, self.jobs, clock, quotas,
                                   lot_of_district=self.parking.lot_of_district,
                                   conversions=self.guides.campaign_conversions)
        self.rains = Rains(s.rains, self.catalog, s.campaigns, s.deliveries, s.limits, clock, grab_limits, grab_window_s)
        self.endpoints = Endpoints(s.endpoints, s.outbox, clock, max_endpoints_per_owner, private_webhooks_allowed)
