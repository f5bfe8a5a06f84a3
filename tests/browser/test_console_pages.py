"""The console in a real browser: signing in with a pasted token or a console link, a channel's
link opening its page, the channel list of the token's account with every string shown as
text, and the Russian words."""

from urllib.parse import quote

from playwright.async_api import Browser, Page, expect

from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import event_pb2
from tests.support.channels import add_channel
from tests.support.receiver import Answer, Receiver
from tests.support.server import ADMIN_TOKEN, OPERATIONAL_SECRET, AdminStub, running
from tests.support.store_items import make_channel, opened

# The form's words in the original product's Russian, the 12 subscriptions among them.
RUSSIAN_FORM = (
    "Департамент", "Название", "URL запроса", "Повторы событий",
    "Создание заявки", "Добавление ответа", "Добавление ответа в чат", "Добавление комментария",
    "Изменение статуса", "Изменение приоритета", "Изменение типа", "Изменение исполнителя",
    "Закрытие заявки", "Изменение департамента", "Достигнут SLA", "Добавлена оценка",
)  # fmt: skip
HOSTILE_NAME = "<img src=x onerror=\"document.title='owned'\">"


def console(server: DeskhookServer) -> str:
    return f"http://127.0.0.1:{server.console_port}/"


async def test_a_pasted_token_signs_in_and_names_show_as_text(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name=HOSTILE_NAME)
    await page.goto(console(server))
    await page.get_by_label("Token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    table = page.locator("table#channels")
    await expect(table.get_by_role("cell", name=HOSTILE_NAME)).to_be_visible()
    # Shown, not run: no image was made of it, and the title is the console's.
    assert await page.locator("main img").count() == 0
    assert await page.title() == "deskhook · Outgoing channel"
    # The token stays in this tab alone: not in the address, not in a cookie.
    assert ADMIN_TOKEN not in page.url
    assert await page.context.cookies() == []


async def test_a_console_link_signs_in_to_its_account_and_leaves_the_address(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="acme's", account_id="acme")
    await add_channel(admin, receiver, name="globex's", account_id="globex")
    minted = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    await page.goto(console(server) + "#token=" + minted.token)
    await expect(page.get_by_role("cell", name="acme's")).to_be_visible()
    await expect(page.get_by_role("cell", name="globex's")).to_have_count(0)
    assert page.url == console(server)


async def test_a_channel_link_opens_its_page_after_signing_in(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    # An operational webhook's console_link: the channel's page once a token is given.
    channel_id, _ = await add_channel(admin, receiver, name="linked", path="/linked")
    await page.goto(console(server) + "#channel=" + quote(channel_id, safe=""))
    assert "channel=" not in page.url
    await page.get_by_label("Token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="linked")).to_be_visible()
    await expect(page.get_by_text(receiver.url("/linked"))).to_be_visible()
    # Opened once: the list is where "All channels" and a reload lead.
    await page.get_by_role("button", name="All channels").click()
    await expect(page.get_by_role("button", name="linked")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("button", name="linked")).to_be_visible()
    assert page.url == console(server)


async def test_a_channel_link_with_its_token_opens_the_page_in_a_tab_already_open(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver, name="linked")
    await page.goto(console(server) + f"#token={ADMIN_TOKEN}&channel={channel_id}")
    await expect(page.get_by_role("heading", name="linked")).to_be_visible()
    await page.get_by_role("button", name="All channels").click()
    # The same link again changes only the fragment: no page load, the page opened all the same.
    await page.goto(console(server) + f"#channel={channel_id}")
    await expect(page.get_by_role("heading", name="linked")).to_be_visible()
    assert page.url == console(server)


async def test_a_channel_link_waits_through_a_refused_token(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver, name="linked")
    await page.goto(console(server) + "#channel=" + channel_id)
    await page.get_by_label("Token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("This token was refused")
    await page.get_by_label("Token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="linked")).to_be_visible()


async def test_a_link_to_a_channel_not_found_says_so_above_the_list(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="still here")
    # The id comes back in the error: shown as text, not run.
    gone = quote(HOSTILE_NAME, safe="")
    await page.goto(console(server) + "#token=" + ADMIN_TOKEN + "&channel=" + gone)
    await expect(page.get_by_role("alert")).to_contain_text(
        "The request failed: channel '<img src=x onerror="
    )
    await expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    await expect(page.get_by_role("button", name="still here")).to_be_visible()
    assert await page.locator("main img").count() == 0
    assert await page.title() == "deskhook · Outgoing channel"
    assert page.url == console(server)


async def test_a_link_to_another_accounts_channel_shows_it_not(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="acme's", account_id="acme")
    globex_id, _ = await add_channel(admin, receiver, name="globex's", account_id="globex")
    minted = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    await page.goto(console(server) + f"#channel={globex_id}&token={minted.token}")
    await expect(page.get_by_role("alert")).to_contain_text("The request failed")
    await expect(page.get_by_role("button", name="acme's")).to_be_visible()
    await expect(page.get_by_text("globex's")).to_have_count(0)


async def test_a_refused_token_is_told_and_asked_again(page: Page, server: DeskhookServer) -> None:
    await page.goto(console(server))
    await page.get_by_label("Token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("This token was refused")
    await expect(page.get_by_label("Token")).to_be_visible()


async def test_a_russian_browser_gets_the_original_products_words(
    browser: Browser, server: DeskhookServer
) -> None:
    context = await browser.new_context(locale="ru-RU")
    page = await context.new_page()
    try:
        await page.goto(console(server))
        await expect(page.get_by_role("heading", name="Исходящий канал")).to_be_visible()
        await expect(page.get_by_role("button", name="Войти")).to_be_visible()
        await page.get_by_label("Токен").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Войти").click()
        await page.get_by_role("button", name="Добавить канал").click()
        for label in RUSSIAN_FORM:
            await expect(page.get_by_label(label, exact=True)).to_be_visible()
        await expect(page.get_by_role("group", name="Подписки")).to_be_visible()
        # The switch goes back to English, on the page shown.
        await page.get_by_label("Язык").select_option("en")
        await expect(page.get_by_label("Department", exact=True)).to_be_visible()
    finally:
        await context.close()


async def sign_in(page: Page, server: DeskhookServer, token: str = ADMIN_TOKEN) -> None:
    await page.goto(console(server) + "#token=" + token)


async def test_a_channel_added_through_the_form_is_tested_and_saved(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await sign_in(page, server)
    await page.get_by_role("button", name="Add channel").click()
    await page.get_by_label("Department", exact=True).fill("7")
    await page.get_by_label("Name", exact=True).fill("CRM")
    await page.get_by_label("URL", exact=True).fill(receiver.url("/form"))
    await page.get_by_label("Ticket created").check()
    await page.get_by_label("Rating added").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Connection established successfully!")
    secret = await page.locator("#secret code").text_content()
    assert secret is not None
    assert secret.startswith("whsec_")
    (saved,) = (await admin.ListChannels(pb.ListChannelsRequest())).channels
    assert (saved.name, saved.department_id, list(saved.subscriptions)) == (
        "CRM",
        7,
        [event_pb2.EVENT_TYPE_TICKET_CREATE, event_pb2.EVENT_TYPE_TICKET_RATING],
    )
    # Shown once: the channel's page, opened again, has no secret on it.
    await page.get_by_role("button", name="All channels").click()
    await page.get_by_role("button", name="CRM").click()
    await expect(page.get_by_role("status")).to_be_visible()
    assert await page.locator("#secret").count() == 0


async def test_a_refused_form_and_a_failing_url_each_show_their_reason(
    page: Page, server: DeskhookServer, receiver: Receiver
) -> None:
    receiver.respond_at("/down", Answer(status=500))
    await sign_in(page, server)
    await page.get_by_role("button", name="Add channel").click()
    await page.get_by_label("Department", exact=True).fill("7")
    await page.get_by_label("Name", exact=True).fill("Broken")
    await page.get_by_label("URL", exact=True).fill(receiver.url("/down"))
    # The server's reason for a refusal is shown, naming the field.
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("channel.subscriptions")
    await page.get_by_label("Ticket created").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("500")


async def test_a_read_only_token_sees_no_button_that_changes_anything(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="watched", account_id="acme")
    minted = await admin.CreateAccessToken(
        pb.CreateAccessTokenRequest(account_id="acme", read_only=True)
    )
    await sign_in(page, server, minted.token)
    await expect(page.locator("#caller")).to_have_text("Account: acme · Read-only")
    assert await page.get_by_role("button", name="Add channel").count() == 0
    await page.get_by_role("button", name="watched").click()
    await expect(page.get_by_role("status")).to_be_visible()
    for name in ("Test connection", "Rotate secret", "Delete"):
        assert await page.get_by_role("button", name=name).count() == 0


async def test_delete_asks_first(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="doomed")
    await sign_in(page, server)
    await page.get_by_role("button", name="doomed").click()
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Cancel").click()
    assert len((await admin.ListChannels(pb.ListChannelsRequest())).channels) == 1
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Yes, delete").click()
    await expect(page.locator("#no-channels")).to_be_visible()
    assert len((await admin.ListChannels(pb.ListChannelsRequest())).channels) == 0


async def test_an_operator_picks_an_account_and_adds_a_channel_to_it(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver, name="acme's", account_id="acme")
    await add_channel(admin, receiver, name="globex's", account_id="globex")
    await sign_in(page, server)
    await expect(page.get_by_role("cell")).to_have_count(8)
    await page.get_by_label("Account").select_option("acme")
    await expect(page.get_by_role("button", name="acme's")).to_be_visible()
    await expect(page.get_by_role("button", name="globex's")).to_have_count(0)
    await page.get_by_role("button", name="Add channel").click()
    await expect(page.get_by_label("Account", exact=True)).to_have_value("acme")
    await page.get_by_label("Department", exact=True).fill("7")
    await page.get_by_label("Name", exact=True).fill("acme's second")
    await page.get_by_label("URL", exact=True).fill(receiver.url("/second"))
    await page.get_by_label("Ticket created").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_be_visible()
    listed = await admin.ListChannels(pb.ListChannelsRequest(account_id="acme"))
    assert sorted(channel.name for channel in listed.channels) == ["acme's", "acme's second"]


async def test_an_operator_of_thousands_of_accounts_loads_more_on_demand(
    page: Page, server: DeskhookServer, settings: Settings
) -> None:
    # Straight into the database: a thousand and one creates would each test a connection.
    async with opened(settings.database) as store:
        for n in range(1001):
            channel = make_channel(f"ch_{n:04}", account_id=f"customer-{n:04}")
            await store.insert_channel(channel, "whsec_test", None)
    await sign_in(page, server)
    options = page.locator("#account-picker option")
    # Every account at once, and the first thousand by id, each with its count of channels.
    await expect(options).to_have_count(1001)
    await expect(options.nth(1)).to_have_text("customer-0000 (1)")
    await page.get_by_role("button", name="More accounts").click()
    await expect(options).to_have_count(1002)
    await expect(page.get_by_role("button", name="More accounts")).to_be_hidden()
    await page.get_by_label("Account").select_option("customer-1000")
    await expect(page.get_by_role("button", name="ch_1000")).to_be_visible()
    await expect(page.locator("table#channels tbody tr")).to_have_count(1)
    # Chosen from a later page, it stays chosen when the list is shown again.
    await page.get_by_role("button", name="ch_1000").click()
    await page.get_by_role("button", name="All channels").click()
    await expect(page.get_by_label("Account")).to_have_value("customer-1000")
    # Its page, loaded again, does not list it twice.
    await page.get_by_role("button", name="More accounts").click()
    await expect(page.get_by_role("button", name="More accounts")).to_be_hidden()
    await expect(options).to_have_count(1002)


async def test_the_channel_list_comes_in_pages_of_50(
    page: Page, server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    for n in range(52):
        await add_channel(admin, receiver, name=f"channel {n:02}")
    await sign_in(page, server)
    rows = page.locator("table#channels tbody tr")
    await expect(rows).to_have_count(50)
    await page.get_by_role("button", name="Next page").click()
    await expect(rows).to_have_count(2)
    await page.get_by_role("button", name="First page").click()
    await expect(rows).to_have_count(50)
    await expect(page.get_by_role("button", name="First page")).to_have_count(0)


async def test_the_operational_channel_offers_no_change_its_settings_would_undo(
    page: Page, settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    operational = settings.model_copy(
        update={"operational_url": receiver.url("/ops"), "operational_secret": OPERATIONAL_SECRET}
    )
    async with running(operational, tuning) as server:
        await sign_in(page, server)
        await page.get_by_role("button", name="Operational webhooks").click()
        await expect(page.get_by_role("heading", name="Operational webhooks")).to_be_visible()
        await expect(page.get_by_text("Channel disabled, Channel failing")).to_be_visible()
        await expect(page.get_by_role("button", name="Test connection")).to_be_visible()
        for refused in ("Rotate secret", "Delete"):
            await expect(page.get_by_role("button", name=refused)).to_have_count(0)
