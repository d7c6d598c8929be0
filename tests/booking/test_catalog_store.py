"""The catalog in MongoDB on a real mongod: the seed fills and refreshes, console edits win,
edits are validated like the seed files, and the cached snapshots see them at once."""
from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import pytest

from booking.bookings import BookingService
from booking.catalog_store import CatalogEditor, CatalogRepository, StaleEditError
from booking.errors import SeedDataError
from booking.runtime import CachedCatalog

SPA = "ubud-serenity-spa"
THURSDAY = date(2026, 11, 26)  # Wayan works 09:00-18:00 with lunch 12:00-13:00


@pytest.fixture
def stored(db, seed_catalog):
    CatalogRepository(db).save(seed_catalog)
    return db


def lava_shell(**overrides):
    return {"id": "lava-shell", "name": "Lava Shell Massage", "category": "massage",
            "duration_minutes": 75, "price": 520000, "aliases": ["lava shells"], **overrides}


def test_a_console_edit_survives_the_next_seed_and_other_businesses_are_refreshed(
        stored, seed_catalog):
    editor = CatalogEditor(stored)
    editor.save_service(SPA, lava_shell())
    stored.catalog_businesses.update_one({"_id": "canggu-glow-salon"}, {"$set": {"name": "Old"}})
    outcome = CatalogRepository(stored).save(seed_catalog)
    assert outcome["kept"] == [SPA]
    catalog = CatalogRepository(stored).load()
    assert "lava-shell" in catalog.services
    assert catalog.business("canggu-glow-salon").name == "Canggu Glow Salon"


def test_edits_are_refused_with_the_seed_loaders_messages_and_change_nothing(stored):
    editor = CatalogEditor(stored)
    with pytest.raises(SeedDataError, match="price must not be negative"):
        editor.save_service(SPA, lava_shell(price=-1))
    with pytest.raises(SeedDataError, match="unknown category 'nails'"):
        editor.save_service(SPA, lava_shell(category="nails"))
    with pytest.raises(SeedDataError, match="duplicate id 'balinese-massage'"):
        editor.save_service("canggu-glow-salon", lava_shell(id="balinese-massage",
                                                            category="hair"))
    assert "lava-shell" not in CatalogRepository(stored).load().services
    assert "edited_at" not in stored.catalog_businesses.find_one({"_id": SPA})


def test_an_edit_from_a_stale_form_is_refused(stored):
    editor = CatalogEditor(stored)
    rev = editor.business(SPA)["rev"]
    editor.save_service(SPA, lava_shell(), rev=rev)
    with pytest.raises(StaleEditError):
        editor.save_service(SPA, lava_shell(price=1), rev=rev)
    assert CatalogRepository(stored).load().service("lava-shell").price == 520000


def test_a_new_service_is_found_by_name_alias_or_in_a_sentence(stored):
    CatalogEditor(stored).save_service(SPA, lava_shell())
    catalog = CatalogRepository(stored).load()
    assert catalog.find_service(SPA, "lava shells").id == "lava-shell"
    assert catalog.mentioned_service(SPA, "can I get a lava shell massage tomorrow at 3?")[0].id \
        == "lava-shell"


def test_blocked_hours_leave_the_offer_at_once_and_come_back_when_unblocked(stored):
    clock = lambda: datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # noqa: E731
    cached = CachedCatalog(stored, check_seconds=0)
    core = BookingService(stored, cached, clock=clock)

    def wayan_afternoon() -> list[str]:
        return [s.start.astimezone(core.catalog.business(SPA).tz).strftime("%H:%M")
                for s in core.free_slots("hot-stone-massage", THURSDAY, staff_id="wayan")
                if s.start.astimezone(core.catalog.business(SPA).tz).hour >= 13]

    assert "14:00" in wayan_afternoon()
    CatalogEditor(stored).block(SPA, "wayan", THURSDAY, "13:00-18:00")
    assert wayan_afternoon() == []
    CatalogEditor(stored).unblock(SPA, "wayan", THURSDAY)
    assert "14:00" in wayan_afternoon()


def test_a_closure_takes_every_staff_member_off(stored):
    CatalogEditor(stored).set_closures(SPA, [THURSDAY])
    catalog = CatalogRepository(stored).load()
    assert all(THURSDAY in s.days_off for s in catalog.staff.values() if s.business_id == SPA)
    assert not any(THURSDAY in s.days_off for s in catalog.staff.values()
                   if s.business_id != SPA)


def test_two_businesses_adding_the_same_id_at_once_cannot_both_win(stored):
    import threading

    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def add(business_id: str, category: str) -> None:
        editor = CatalogEditor(stored)
        original = editor.repository.raw

        def raw_then_wait():
            raw = original()
            if business_id not in outcomes:  # both read before either commits
                outcomes[business_id] = "read"
                barrier.wait(timeout=10)
            return raw
        editor.repository.raw = raw_then_wait
        try:
            editor.save_service(business_id, lava_shell(id="sauna", category=category))
            outcomes[business_id] = "saved"
        except SeedDataError as exc:
            outcomes[business_id] = exc.reason

    threads = [threading.Thread(target=add, args=(SPA, "massage")),
               threading.Thread(target=add, args=("canggu-glow-salon", "hair"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["duplicate id 'sauna'", "saved"], outcomes
    assert CatalogRepository(stored).load().services["sauna"]  # the catalog still loads


def test_the_seed_refuses_an_id_the_console_gave_another_business(stored, seed_catalog):
    CatalogEditor(stored).save_service("canggu-glow-salon",
                                       lava_shell(id="balinese-massage-x", category="hair"))
    raw = copy.deepcopy(seed_catalog.raw)
    raw["businesses"][0]["services"].append(lava_shell(id="balinese-massage-x"))
    before = stored.catalog_businesses.find_one({"_id": SPA})
    with pytest.raises(SeedDataError, match="duplicate id 'balinese-massage-x'"):
        CatalogRepository(stored).save(parse_catalog_without_checks(raw))
    assert stored.catalog_businesses.find_one({"_id": SPA}) == before
    CatalogRepository(stored).load()


def parse_catalog_without_checks(raw):
    """A seed as the YAML gives it (valid on its own)."""
    from booking.catalog import parse_catalog
    return parse_catalog(raw, "seed")


def test_blocking_time_keeps_the_business_in_the_seeds_hands(stored, seed_catalog):
    CatalogEditor(stored).block(SPA, "wayan", THURSDAY, "13:00-18:00")
    assert "edited_at" not in stored.catalog_businesses.find_one({"_id": SPA})
    assert CatalogRepository(stored).save(seed_catalog)["kept"] == []
    assert CatalogRepository(stored).load().staff_member("wayan").time_off[THURSDAY]


def test_a_new_service_never_replaces_an_existing_one(stored):
    with pytest.raises(SeedDataError, match="exists already"):
        CatalogEditor(stored).save_service(SPA, lava_shell(id="flower-bath"), new=True)
    assert CatalogRepository(stored).load().service("flower-bath").price != 520000


def test_a_snapshot_keeps_serving_the_last_good_catalog_if_the_stored_one_breaks(stored):
    cached = CachedCatalog(stored, check_seconds=0)
    assert cached().services
    stored.catalog_businesses.update_one({"_id": SPA}, {"$set": {"timezone": "Mars/Olympus"}})
    CatalogRepository(stored).bump()
    assert "balinese-massage" in cached().services


def test_while_one_thread_checks_the_catalog_the_others_are_served_at_once(stored):
    import threading

    cached = CachedCatalog(stored, check_seconds=0)
    first = cached()
    entered, release = threading.Event(), threading.Event()
    version = cached.repository.version

    def slow_version():  # the database answering slowly (or not at all)
        entered.set()
        release.wait(timeout=10)
        return version()
    cached.repository.version = slow_version
    checker = threading.Thread(target=cached)
    checker.start()
    assert entered.wait(timeout=10)
    assert cached() is first  # not queued behind the check
    release.set()
    checker.join(timeout=10)


def test_an_unreachable_database_keeps_the_snapshot_serving(stored):
    from booking.errors import DatabaseUnavailableError

    cached = CachedCatalog(stored, check_seconds=0)
    first = cached()

    def down():
        raise DatabaseUnavailableError("database unavailable")
    cached.repository.version = down
    assert cached() is first


def test_a_console_edit_of_a_service_keeps_its_translations(stored):
    """The console's service form has no fields for the Indonesian name and description: an
    edit of the price keeps them (Indonesian customers still read "Pijat Bali")."""
    editor = CatalogEditor(stored)
    editor.save_service(SPA, {"id": "balinese-massage", "name": "Balinese Massage",
                              "category": "massage", "duration_minutes": 60, "price": 375000})
    service = CatalogRepository(stored).load().services["balinese-massage"]
    assert service.price == 375000 and service.name_in("id") == "Pijat Bali"
    assert service.description_in("id").startswith("Pijat tradisional")


def test_editing_a_service_in_the_console_keeps_its_deposit_policy(stored):
    """The form has no payment fields: a price change must not drop the service's deposit."""
    editor = CatalogEditor(stored)
    form = {"id": "four-hands-massage", "name": "Four Hands Massage", "category": "massage",
            "duration_minutes": 60, "price": 700000}
    catalog = editor.save_service(SPA, form)
    policy = catalog.service("four-hands-massage").payment_policy
    assert (policy.collect, policy.deposit_percent, policy.cancel_window_hours) == (
        "deposit", 30, 24)
