"""The webhook log in a real browser: attempts arriving live without a reload, each one's
details with the receiver's answer shown as text, the filters, and "Redeliver" sending the same
webhook again."""

from playwright.async_api import Page, expect

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver
from tests.support.server import ADMIN_TOKEN, AdminStub, IngestStub

HOSTILE_BODY = b"</script><img src=x onerror=\"document.title='owned'\">"


async def open_log(page: Page, server: DeskhookServer, channel_name: str) -> None:
    await page.goto(f"http://127.0.0.1:{server.console_port}/#token={ADMIN_TOKEN}")
    await page.get_by_role("button", name=channel_name).click()
    await page.get_by_role("button", name="Webhook log").click()
    await expect(page.get_by_text("Live: new attempts appear as they happen.")).to_be_visible()


async def publish(ingest: IngestStub, event_id: str, ticket_id: int = 1001) -> None:
    event = make_event(event_id, ticket_id=ticket_id)
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))


async def test_attempts_appear_live_and_their_answer_shows_as_text(
    page: Page,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    await add_channel(admin, receiver, name="crm")
    receiver.respond(Answer(status=500, body=HOSTILE_BODY))
    await open_log(page, server, "crm")
    await publish(ingest, "evt-live")
    await scheduler.drain()
    row = page.locator("#log tbody tr").first
    await expect(row).to_contain_text("HD-1001")
    await expect(row).to_contain_text("500")
    await expect(row).to_contain_text("Retry scheduled")
    await row.get_by_role("button", name="Details").click()
    await expect(page.locator("pre.body").first).to_have_text(HOSTILE_BODY.decode())
    await expect(page.locator("dl.detail").first).to_contain_text("webhook-id: msg_")
    assert await page.locator("main img").count() == 0
    assert await page.title() == "deskhook · Outgoing channel"


async def test_redeliver_sends_the_same_webhook_again(
    page: Page,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    await add_channel(admin, receiver, name="crm")
    await publish(ingest, "evt-again")
    await scheduler.drain()
    await open_log(page, server, "crm")
    await page.locator("#log tbody tr").first.get_by_role("button", name="Redeliver").click()
    await expect(page.get_by_role("status")).to_contain_text("Sent again")
    await scheduler.drain()
    # The connection test, the first delivery, and the same webhook again.
    _, first, again = await receiver.wait_for_requests(3)
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    await expect(page.locator("#log tbody tr:not([hidden])")).to_have_count(2)


async def test_the_filters_keep_to_one_outcome(
    page: Page,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    await add_channel(admin, receiver, name="crm")
    await publish(ingest, "evt-ok", ticket_id=1)
    await scheduler.drain()
    receiver.respond(Answer(status=503))
    await publish(ingest, "evt-bad", ticket_id=2)
    await scheduler.drain()
    await open_log(page, server, "crm")
    await expect(page.locator("#log tbody tr:not([hidden])")).to_have_count(2)
    await page.get_by_label("Outcome").select_option(label="Retry scheduled")
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("#log tbody tr:not([hidden])")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("HD-2")
