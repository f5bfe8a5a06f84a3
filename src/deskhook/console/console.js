// The console: sign-in, the channel list, the channel form and the channel page. Every string
// from the server (names, URLs, messages) reaches the page as text (textContent), never as
// markup.
import { call, watch, ApiError } from "./api.js";
import { WORDS, EVENT_TYPES, TICKET_EVENT_TYPES, chosenLanguage, wireName } from "./i18n.js";

const TOKEN_KEY = "deskhook.token";
let words = WORDS.en;
// Redrawn when the language changes.
let current = () => route();
// Ends the live view of the webhook log when the page changes.
let leaving = new AbortController();

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function button(label, onClick, attributes = {}) {
  const node = element("button", { type: "button", ...attributes }, label);
  node.addEventListener("click", onClick);
  return node;
}

function alert(message) {
  return element("p", { role: "alert", class: "error" }, message);
}

function show(view, ...nodes) {
  leaving.abort();
  leaving = new AbortController();
  current = view;
  document.getElementById("main").replaceChildren(...nodes);
  // A new view takes the focus at its heading, so that keyboard and screen reader users start
  // there, as after loading a page.
  const heading = document.querySelector("main h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

// The account of the server's own channel, which sends operational webhooks.
const SYSTEM_ACCOUNT = "deskhook/system";

// The channel a link named (`#channel=ID`, an operational webhook's console_link), opened once
// a token is there; then forgotten, so that "All channels" and a reload show the list.
let linkedChannel = null;

// A console link carries the token in its fragment, which browsers never send: taken into
// this tab's storage, and removed from the address bar and history at once. A channel's link
// goes the same way, so that a reload or a bookmark does not open that channel again. True
// when the link carried either.
function fromLink() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  const channel = fragment.get("channel");
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  if (channel) linkedChannel = channel;
  if (!token && !channel) return false;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return true;
}

// What an account token says of itself (the server checks it; this only shapes the page):
// its account and whether it may change anything. Any other token is an operator's.
function caller(token) {
  if (!token.startsWith("dhat_")) return { account: null, readOnly: false };
  try {
    const claims = token.slice(5).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const parsed = JSON.parse(atob(claims));
    return { account: String(parsed.account_id), readOnly: parsed.read_only === true };
  } catch {
    return { account: null, readOnly: false };
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// Calls the API; a refused token signs out and says why.
async function api(method, request) {
  try {
    return await call(token(), method, request);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      signIn(`${words.refused}: ${error.message}`);
    }
    throw error;
  }
}

// Runs `action`, showing its failure (other than a refused token) above `view`'s content.
async function attempt(action, where) {
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    where.replaceChildren(alert(`${words.failed}: ${error.message}`));
  }
}

function signIn(message) {
  const input = element("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: "",
  });
  const form = element(
    "form",
    // POST: were the page's script ever not to take the form, the token stays out of the URL.
    { id: "sign-in", method: "post" },
    element("p", {}, words.signInHint),
    element("label", { for: "token" }, words.token),
    input,
    element("button", { type: "submit" }, words.signIn),
  );
  if (message) form.append(alert(message));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    route();
  });
  show(() => signIn(message), form);
  input.focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  signIn();
}

function whoLine() {
  const who = caller(token());
  const parts = [who.account === null ? words.operator : `${words.account}: ${who.account}`];
  if (who.readOnly) parts.push(words.readOnly);
  return element("p", { id: "caller" }, parts.join(" · "));
}

// The account an operator chose to look at: null for every account, "" the default one.
let chosenAccount = null;
const EVERY_ACCOUNT = "*";

// An operator's account picker: every account at once, or one account with channels, by id,
// a thousand at a time and more on demand (there may be thousands).
async function accountPicker() {
  const select = element(
    "select",
    { id: "account-picker" },
    element("option", { value: EVERY_ACCOUNT }, words.allAccounts),
  );
  // An account listed once, though one chosen from a later page is listed before its page.
  const shown = new Set();
  const add = (id, label) => {
    if (shown.has(id)) return;
    shown.add(id);
    select.append(element("option", { value: id }, label));
  };
  const more = button(words.moreAccounts, () => attempt(() => addAccounts(nextToken), picker), {
    id: "more-accounts",
    class: "secondary",
  });
  let nextToken = "";
  async function addAccounts(pageToken) {
    const listed = await api("ListAccounts", { pageSize: 1000, pageToken });
    for (const account of listed.accounts || []) {
      const id = account.accountId || "";
      add(id, `${id || words.defaultAccount} (${account.channelCount || 0})`);
    }
    nextToken = listed.nextPageToken || "";
    more.hidden = !nextToken;
  }
  await addAccounts("");
  // An account chosen from a later page stays chosen when the list is shown again.
  if (chosenAccount !== null) add(chosenAccount, chosenAccount || words.defaultAccount);
  select.value = chosenAccount === null ? EVERY_ACCOUNT : chosenAccount;
  select.addEventListener("change", () => {
    chosenAccount = select.value === EVERY_ACCOUNT ? null : select.value;
    attempt(channelList, document.getElementById("main"));
  });
  const picker = element(
    "p",
    {},
    element("label", { for: "account-picker" }, `${words.account} `),
    select,
    " ",
    more,
  );
  return picker;
}

async function channelList(pageToken = "") {
  const operator = caller(token()).account === null;
  const request = { pageSize: 50, pageToken };
  if (operator && chosenAccount !== null) request.accountId = chosenAccount;
  const listed = await api("ListChannels", request);
  const channels = listed.channels || [];
  const rows = channels.map((channel) => {
    const link = button(channel.name || channel.id, () => channelPage(channel.id), {
      class: "link",
    });
    return element(
      "tr",
      {},
      element("td", {}, link),
      element("td", {}, channel.departmentId || ""),
      element("td", { class: "url" }, channel.url || ""),
      element("td", {}, channel.enabled === false ? words.disabled : words.enabled),
    );
  });
  const headings = [words.name, words.department, words.url, words.status];
  const table = element(
    "table",
    { id: "channels" },
    element("thead", {}, element("tr", {}, ...headings.map((h) => element("th", { scope: "col" }, h)))),
    element("tbody", {}, ...rows),
  );
  const actions = element("p", { class: "actions" });
  const main = document.getElementById("main");
  if (pageToken) actions.append(button(words.firstPage, () => attempt(() => channelList(), main)));
  if (listed.nextPageToken) {
    const next = () => attempt(() => channelList(listed.nextPageToken), main);
    actions.append(button(words.nextPage, next));
  }
  if (!caller(token()).readOnly) actions.append(button(words.addChannel, () => channelForm()));
  actions.append(button(words.signOut, signOut, { id: "sign-out", class: "secondary" }));
  show(
    () => channelList(pageToken),
    whoLine(),
    element("h2", {}, words.channels),
    operator ? await accountPicker() : element("div"),
    channels.length ? table : element("p", { id: "no-channels" }, words.noChannels),
    actions,
  );
}

// The form in the original product's order: department, name, URL, event retries, the 12
// subscriptions, save.
function channelForm() {
  const field = (id, label, attributes) =>
    element("p", {}, element("label", { for: id }, label), element("input", { id, name: id, ...attributes }));
  const boxes = TICKET_EVENT_TYPES.map((type) =>
    element(
      "label",
      { class: "check" },
      element("input", { type: "checkbox", name: "subscriptions", value: type }),
      words.events[type],
    ),
  );
  const problem = element("div");
  const form = element(
    "form",
    { id: "channel-form", method: "post" },
    // An operator names the account; an account token's channels are its account's.
    caller(token()).account === null
      ? field("account", words.account, { type: "text", value: chosenAccount ?? "", maxlength: "128" })
      : element("div"),
    field("department", words.department, { type: "number", min: "1", required: "" }),
    field("name", words.name, { type: "text", required: "", maxlength: "200" }),
    field("url", words.url, { type: "url", required: "", placeholder: "https://" }),
    element(
      "label",
      { class: "check" },
      element("input", { type: "checkbox", id: "retries", name: "retries", checked: "" }),
      words.eventRetries,
    ),
    element("fieldset", {}, element("legend", {}, words.subscriptions), ...boxes),
    problem,
    element(
      "p",
      { class: "actions" },
      element("button", { type: "submit" }, words.save),
      button(words.cancel, () => channelList(), { class: "secondary" }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const channel = {
      departmentId: form.elements.department.value,
      name: form.elements.name.value,
      url: form.elements.url.value,
      retriesEnabled: form.elements.retries.checked,
      subscriptions: boxes.map((box) => box.firstChild).filter((box) => box.checked).map((box) => box.value),
    };
    if (form.elements.account) channel.accountId = form.elements.account.value;
    attempt(async () => {
      const created = await api("CreateChannel", { channel });
      await channelPage(created.channel.id, created.signingSecret);
    }, problem);
  });
  show(channelForm, element("h2", {}, words.addChannel), form);
  form.elements.department.focus();
}

function statusLine(channel) {
  const status = channel.connectionStatus || {};
  const good = status.state === "CONNECTION_STATE_ESTABLISHED";
  return element("p", { id: "status-line", class: good ? "ok" : "error", role: "status" }, status.message || "");
}

// A signing secret, shown once (after a create or a rotation) with a button that copies it.
function secretBox(secret) {
  const copy = button(words.copy, async () => {
    await navigator.clipboard.writeText(secret);
    copy.textContent = words.copied;
  });
  return element(
    "div",
    { id: "secret", class: "secret" },
    element("p", {}, element("strong", {}, `${words.secret}: `), element("code", {}, secret)),
    element("p", {}, words.secretOnce, " ", copy),
  );
}

async function channelPage(id, secret) {
  const got = await api("GetChannel", { id });
  const channel = got.channel;
  const problem = element("div");
  const readOnly = caller(token()).readOnly;
  const actions = element("p", { class: "actions" });
  if (!readOnly) {
    actions.append(
      button(words.testConnection, () =>
        attempt(async () => {
          await api("TestConnection", { channelId: id });
          await channelPage(id);
        }, problem),
      ),
    );
    // The server's settings make the operational channel what it is: the API refuses to change it.
    if (channel.accountId !== SYSTEM_ACCOUNT) {
      actions.append(
        button(words.rotateSecret, () =>
          attempt(async () => {
            const rotated = await api("RotateSigningSecret", { id });
            await channelPage(id, rotated.signingSecret);
          }, problem),
        ),
        button(words.delete, () => confirmDelete(id, problem), { class: "danger" }),
      );
    }
  }
  actions.prepend(button(words.webhookLog, () => logPage(id)));
  actions.append(button(words.back, () => channelList(), { class: "secondary" }));
  const subscribed = (channel.subscriptions || []).map((type) => words.events[type] || type);
  show(
    () => channelPage(id),
    whoLine(),
    element("h2", {}, channel.name || channel.id),
    statusLine(channel),
    secret ? secretBox(secret) : element("div"),
    element(
      "dl",
      {},
      element("dt", {}, words.department),
      element("dd", {}, channel.departmentId || ""),
      element("dt", {}, words.url),
      element("dd", { class: "url" }, channel.url || ""),
      element("dt", {}, words.eventRetries),
      element("dd", {}, channel.retriesEnabled ? "✓" : "—"),
      element("dt", {}, words.subscriptions),
      element("dd", {}, subscribed.join(", ")),
    ),
    problem,
    actions,
    readOnly ? element("div") : redeliverSince(id, problem),
  );
}

// "Redeliver failed since…": every delivery of the channel that failed since then, sent again.
function redeliverSince(id, problem) {
  const input = element("input", { id: "failed-since", type: "datetime-local", required: "" });
  const form = element(
    "form",
    { id: "redeliver-since", method: "post", class: "actions" },
    element("label", { for: "failed-since" }, words.since),
    input,
    element("button", { type: "submit" }, words.redeliverSince),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const failedSince = new Date(input.value).toISOString();
      const answer = await api("Redeliver", { channelId: id, failedSince });
      problem.replaceChildren(
        element("p", { role: "status" }, words.scheduled(answer.scheduledDeliveries || 0)),
      );
    }, problem);
  });
  return form;
}

function confirmDelete(id, problem) {
  problem.replaceChildren(
    element(
      "div",
      { role: "alertdialog", "aria-labelledby": "confirm-text", class: "confirm" },
      element("p", { id: "confirm-text" }, words.confirmDelete),
      button(words.confirm, () =>
        attempt(async () => {
          await api("DeleteChannel", { id });
          await channelList();
        }, problem),
        { class: "danger" },
      ),
      button(words.cancel, () => problem.replaceChildren(), { class: "secondary" }),
    ),
  );
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString(document.documentElement.lang) : "";
}

// The headers an attempt was sent with, as far as the log keeps them (docs/design.md §4): the
// signature is made with the channel's secret at send time and not kept.
function headersSent(entry) {
  const seconds = Math.floor(new Date(entry.attemptedAt).getTime() / 1000);
  return [
    ["content-type", "application/json"],
    ["webhook-id", entry.webhookId || ""],
    ["webhook-timestamp", String(seconds)],
    ["webhook-signature", `v1,… ${words.notKept}`],
    ["x-deskhook-event-type", wireName(entry.eventType)],
    ["x-deskhook-attempt", String(entry.attempt || 1)],
  ];
}

function detail(entry) {
  const rows = [
    [words.requestHeaders, element("pre", {}, headersSent(entry).map(([n, v]) => `${n}: ${v}`).join("\n"))],
    [words.responseBody, element("pre", { class: "body" }, entry.responseBody || "")],
    [words.error, entry.error || ""],
    // A proto3 JSON duration: seconds, with an "s".
    [words.duration, entry.duration ? `${(parseFloat(entry.duration) * 1000).toFixed(1)} ms` : ""],
    [words.nextAttempt, when(entry.nextAttemptAt)],
  ];
  return element(
    "dl",
    { class: "detail" },
    ...rows.flatMap(([label, value]) => [element("dt", {}, label), element("dd", {}, value)]),
  );
}

function logRow(id, entry, readOnly, problem) {
  const row = element(
    "tr",
    {},
    element("td", {}, when(entry.attemptedAt)),
    element("td", {}, words.events[entry.eventType] || entry.eventType || ""),
    element("td", {}, entry.ticketNumber || entry.ticketId || ""),
    element("td", {}, entry.httpStatus ? String(entry.httpStatus) : ""),
    element("td", { class: "response" }, entry.error || (entry.responseBody || "").slice(0, 120)),
    element("td", {}, String(entry.attempt || 1)),
    element("td", {}, words.outcomes[entry.outcome] || entry.outcome || ""),
  );
  const cell = element("td", { class: "row-actions" });
  const more = element("tr", { hidden: "" }, element("td", { colspan: "8" }, detail(entry)));
  cell.append(
    button(
      words.details,
      (event) => {
        const hidden = more.toggleAttribute("hidden");
        event.currentTarget.setAttribute("aria-expanded", String(!hidden));
      },
      { "aria-expanded": "false" },
    ),
  );
  if (!readOnly) {
    cell.append(
      button(words.redeliver, () =>
        attempt(async () => {
          await api("Redeliver", { channelId: id, eventId: entry.eventId });
          problem.replaceChildren(element("p", { role: "status" }, words.redelivered));
        }, problem),
      ),
    );
  }
  row.append(cell);
  return [row, more];
}

// The webhook log of a channel: filters, pages, each attempt's details, and the attempts that
// happen while it is open, added at the top.
async function logPage(id, filters = {}, pageToken = "") {
  const readOnly = caller(token()).readOnly;
  const problem = element("div");
  const request = { channelId: id, pageSize: 50, pageToken, ...filters };
  const listed = await api("ListDeliveryLog", request);
  const entries = listed.entries || [];
  const headings = [words.date, words.event, words.ticket, words.httpCode, words.response];
  headings.push(words.attempt, words.outcome, "");
  const body = element("tbody", {}, ...entries.flatMap((e) => logRow(id, e, readOnly, problem)));
  const table = element(
    "table",
    { id: "log" },
    element("thead", {}, element("tr", {}, ...headings.map((h) => element("th", { scope: "col" }, h)))),
    body,
  );
  const outcome = element("select", { id: "outcome" }, element("option", { value: "" }, words.any));
  for (const [value, label] of Object.entries(words.outcomes)) {
    outcome.append(element("option", { value }, label));
  }
  const eventType = element("select", { id: "event-type" }, element("option", { value: "" }, words.any));
  for (const type of EVENT_TYPES) eventType.append(element("option", { value: type }, words.events[type]));
  const ticket = element("input", { id: "ticket", type: "number", min: "1" });
  const from = element("input", { id: "from", type: "datetime-local" });
  const to = element("input", { id: "to", type: "datetime-local" });
  outcome.value = filters.outcome || "";
  eventType.value = filters.eventType || "";
  ticket.value = filters.ticketId || "";
  const form = element(
    "form",
    { id: "log-filters", method: "post", class: "filters" },
    ...[
      [words.outcome, outcome],
      [words.event, eventType],
      [words.ticket, ticket],
      [words.from, from],
      [words.to, to],
    ].map(([label, input]) => element("p", {}, element("label", { for: input.id }, label), input)),
    element("button", { type: "submit" }, words.filter),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = {};
    if (outcome.value) chosen.outcome = outcome.value;
    if (eventType.value) chosen.eventType = eventType.value;
    if (ticket.value) chosen.ticketId = ticket.value;
    if (from.value) chosen.startTime = new Date(from.value).toISOString();
    if (to.value) chosen.endTime = new Date(to.value).toISOString();
    attempt(() => logPage(id, chosen), problem);
  });
  const paging = element("p", { class: "actions" });
  if (pageToken) paging.append(button(words.firstPage, () => attempt(() => logPage(id, filters), problem)));
  if (listed.nextPageToken) {
    paging.append(
      button(words.nextPage, () => attempt(() => logPage(id, filters, listed.nextPageToken), problem)),
    );
  }
  paging.append(button(words.back, () => channelPage(id), { class: "secondary" }));
  show(
    () => logPage(id, filters, pageToken),
    whoLine(),
    element("h2", {}, words.webhookLog),
    form,
    problem,
    element("p", { class: "hint" }, pageToken ? "" : words.live),
    entries.length ? table : element("p", { id: "no-entries" }, words.noEntries),
    paging,
  );
  if (!pageToken) follow(id, filters, table, body, readOnly, problem);
}

// New attempts as they happen, on the first page: those the filters let through go on top.
function follow(id, filters, table, body, readOnly, problem) {
  const matches = (entry) =>
    (!filters.outcome || entry.outcome === filters.outcome) &&
    (!filters.eventType || entry.eventType === filters.eventType) &&
    (!filters.ticketId || String(entry.ticketId) === String(filters.ticketId)) &&
    !filters.endTime;
  const signal = leaving.signal;
  let skipped = 0;
  watch(token(), "WatchDeliveryLog", { channelId: id }, (message) => {
    if (message.skippedEntries) {
      // The server let this view fall behind: say so, rather than show a log with holes.
      skipped += Number(message.skippedEntries);
      const notice = element("p", { id: "skipped", role: "status" }, words.skipped(skipped));
      (document.getElementById("skipped") || problem.appendChild(notice)).replaceWith(notice);
    }
    if (!message.entry || !matches(message.entry)) return;
    document.getElementById("no-entries")?.replaceWith(table);
    body.prepend(...logRow(id, message.entry, readOnly, problem));
  }, signal).catch((error) => {
    if (!signal.aborted) problem.replaceChildren(alert(`${words.failed}: ${error.message}`));
  });
}

// A linked channel that cannot be shown (deleted, or not the token's account's) leaves its
// reason above the list, not a page with no way on. A refused token keeps the link for the
// token given next.
async function linkedPage(main) {
  try {
    await channelPage(linkedChannel);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    await attempt(channelList, main);
    main.prepend(alert(`${words.failed}: ${error.message}`));
  }
  linkedChannel = null;
}

async function route() {
  if (!token()) return signIn();
  const main = document.getElementById("main");
  if (linkedChannel !== null) return linkedPage(main);
  await attempt(channelList, main);
}

function applyLanguage(language) {
  words = WORDS[language];
  document.documentElement.lang = language;
  document.title = `deskhook · ${words.title}`;
  document.getElementById("title").textContent = words.title;
  document.getElementById("language-label").textContent = words.language;
  document.getElementById("language").value = language;
}

function start() {
  fromLink();
  applyLanguage(chosenLanguage(localStorage, navigator.languages || [navigator.language]));
  document.getElementById("language").addEventListener("change", (event) => {
    localStorage.setItem("deskhook.language", event.target.value);
    applyLanguage(event.target.value);
    current();
  });
  // A link followed in a tab already showing the console changes only the fragment: no load.
  window.addEventListener("hashchange", () => {
    if (fromLink()) route();
  });
  route();
}

start();
