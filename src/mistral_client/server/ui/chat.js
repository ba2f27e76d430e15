// The chat page: posts the conversation to /ui/chat and reads the answer as server-sent events
// from the fetch body (EventSource can only GET, and cannot be aborted mid-answer as cleanly).
// A server started with --api-key answers the page's calls with 401 until they carry its key: the
// page then asks for it, keeps it in sessionStorage (this tab only, gone when the tab closes) and
// asks again whenever the server refuses it.
// The model's text is untrusted: it is HTML-escaped first, then a markdown subset is applied to the
// escaped text, so no tag or attribute from the model can reach the DOM.
"use strict";

const $ = (id) => document.getElementById(id);
const STORE = "mistral-client.chat"; // the transcript, kept across reloads (New chat clears it)
const SILENCE_MS = 1500; // no token for this long: show the typing dots again
// A rate under the answer needs this many tokens after the first, over this long (as the CLI).
const RATE_MIN_TOKENS = 10;
const RATE_MIN_SECONDS = 0.25;

// The transcript as shown: {role, content, unsent?, stopped?, error?: {title, detail}}. What the model
// is sent is derived from it (context()), so the screen and the model's context always agree.
let items = loadItems();
let controller = null; // the AbortController of the answer being streamed
// Bumped by New chat: an answer still finishing belongs to the old chat and must not touch the new one.
let chatNumber = 0;
let countdown = null; // {timer, element} while waiting out a Retry-After
let following = true; // the reader is at the bottom: keep the newest text in view

// --- Markdown, safely ------------------------------------------------------------------------

function escapeHtml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const LINK_ATTRS = ' rel="noopener noreferrer nofollow" target="_blank"';
// A bare URL in escaped text ends before an escaped quote or bracket: it can never leave the href.
const AUTOLINK = /https?:\/\/(?:(?!&quot;|&lt;|&gt;|&#39;)[^\s\uE000\uE001])+/g;

function emphasis(escaped) {
  return escaped
    .replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/~~(?=\S)(.+?)~~/g, "<del>$1</del>")
    .replace(/(^|[^*\w])\*(?=\S)([^*\n]+?)\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w])_(?=\S)([^_\n]+?)_(?!\w)/g, "$1<em>$2</em>");
}

// Inline markup on text that is already escaped: `code`, **bold**, *italic*, ~~struck~~, links.
function inline(escaped) {
  return escaped
    .split(/(`[^`\n]+`)/)
    .map((part, index) => {
      if (index % 2 === 1) return "<code>" + part.slice(1, -1) + "</code>";
      // Links are held aside while emphasis runs, so no * or _ inside a URL is taken for markup.
      const held = [];
      const hold = (html) => "\uE000" + (held.push(html) - 1) + "\uE001";
      return emphasis(
        part
          .replace(/[\uE000\uE001]/g, "") // the model's own markers cannot pose as ours
          // Only http(s) targets become links: javascript:, data: and the rest stay plain text.
          .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g, (all, label, url) =>
            hold('<a href="' + url + '"' + LINK_ATTRS + ">" + emphasis(label) + "</a>")
          )
          .replace(AUTOLINK, (found) => {
            const url = found.replace(/[.,;:!?)]+$/, ""); // sentence punctuation is not the URL's
            return hold('<a href="' + url + '"' + LINK_ATTRS + ">" + url + "</a>") + found.slice(url.length);
          })
      ).replace(/\uE000(\d+)\uE001/g, (all, number) => held[Number(number)]);
    })
    .join("");
}

const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const QUOTE = /^\s{0,3}&gt;/;

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => inline(cell.trim()));
}

function table(head, rows) {
  const row = (values, tag) => "<tr>" + values.map((v) => "<" + tag + ">" + v + "</" + tag + ">").join("") + "</tr>";
  return (
    '<div class="table-wrap"><table><thead>' + row(head, "th") + "</thead><tbody>" +
    rows.map((values) => row(values, "td")).join("") + "</tbody></table></div>"
  );
}

function codeBlock(language, code) {
  const label = language ? '<span class="lang">' + language + "</span>" : "<span></span>";
  return (
    '<div class="code"><div class="code-head">' + label + '<button type="button" class="copy">Copy</button></div>' +
    "<pre><code>" + code + "</code></pre></div>"
  );
}

// Nested lists from indentation: a deeper item opens a list inside the open item.
function renderList(lines) {
  const out = [];
  const stack = []; // {indent, kind} of the open lists
  for (const line of lines) {
    if (line.trim() === "") continue;
    const item = LIST_ITEM.exec(line);
    if (!item) {
      out.push(" " + inline(line.trim())); // a continuation of the open item
      continue;
    }
    const indent = item[1].replace(/\t/g, "    ").length;
    const kind = /\d/.test(item[2]) ? "ol" : "ul";
    while (stack.length && indent < stack[stack.length - 1].indent) out.push("</li></" + stack.pop().kind + ">");
    const top = stack[stack.length - 1];
    if (top && indent === top.indent && kind === top.kind) {
      out.push("</li>");
    } else {
      if (top && indent === top.indent) out.push("</li></" + stack.pop().kind + ">");
      const start = kind === "ol" && parseInt(item[2], 10) !== 1 ? ' start="' + parseInt(item[2], 10) + '"' : "";
      out.push("<" + kind + start + ">");
      stack.push({ indent, kind });
    }
    out.push("<li>" + inline(item[3]));
  }
  while (stack.length) out.push("</li></" + stack.pop().kind + ">");
  return out.join("");
}

function renderBlocks(lines) {
  const html = [];
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) html.push("<p>" + paragraph.map(inline).join("<br>") + "</p>");
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```\s*([\w+#.-]{0,20})/.exec(line);
    if (fence) {
      flush();
      const code = [];
      while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i]);
      html.push(codeBlock(fence[1], code.join("\n")));
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].replace(/^\s{0,3}&gt;\s?/, ""));
      i--;
      html.push("<blockquote>" + renderBlocks(quoted) + "</blockquote>");
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      flush();
      const head = cells(line);
      const rows = [];
      for (i += 2; i < lines.length && lines[i].includes("|"); i++) rows.push(cells(lines[i]));
      i--;
      html.push(table(head, rows));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = Math.min(heading[1].length + 1, 6); // the page's own h1 stays the only big title
      html.push("<h" + level + ">" + inline(heading[2]) + "</h" + level + ">");
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      html.push("<hr>");
    } else if (LIST_ITEM.test(line)) {
      flush();
      const start = i;
      const goesOn = (j) =>
        LIST_ITEM.test(lines[j]) ||
        /^\s{2,}\S/.test(lines[j]) ||
        (lines[j].trim() === "" && j + 1 < lines.length && LIST_ITEM.test(lines[j + 1]));
      while (i < lines.length && (i === start || goesOn(i))) i++;
      html.push(renderList(lines.slice(start, i)));
      i--;
    } else if (line.trim() === "") {
      flush();
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return html.join("");
}

function renderMarkdown(text) {
  return renderBlocks(escapeHtml(text).split("\n"));
}

// --- Server-sent events from a fetch body ----------------------------------------------------

async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        if (data.length) yield { type, data: data.join("\n") };
        type = "message";
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}

// --- The server's key ------------------------------------------------------------------------

const KEY_ITEM = "mistral-client.api-key";
let keyWaiters = []; // resolve functions of the calls waiting for a key

function authorization() {
  const key = sessionStorage.getItem(KEY_ITEM);
  return key ? { authorization: "Bearer " + key } : {};
}

// Resolves once the user has entered a key; ``refused``: the last one was refused (say so).
function askForKey(refused) {
  sessionStorage.removeItem(KEY_ITEM);
  $("key-error").textContent = refused ? "The server refused that key: enter the --api-key value again." : "";
  $("key-error").hidden = !refused;
  $("key").value = "";
  document.body.dataset.key = "asked";
  if (!$("key-dialog").open) $("key-dialog").showModal();
  $("key").focus();
  return new Promise((resolve) => keyWaiters.push(resolve));
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_ITEM, key);
  $("key-dialog").close();
  document.body.dataset.key = "given";
  $("prompt").focus();
  const waiting = keyWaiters;
  keyWaiters = [];
  for (const resolve of waiting) resolve();
});
// Escape would close the dialog and leave the page without a key: it stays until one is given.
$("key-dialog").addEventListener("cancel", (event) => event.preventDefault());

class KeyRefused extends Error {}

// What went wrong, for people: ``status`` of a refused request, ``detail`` for the disclosure.
class Failure extends Error {
  constructor(detail, { status = null, retryAfter = null, network = false } = {}) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
    this.network = network;
  }
}

// fetch, with the key when there is one; a 401 is KeyRefused.
async function call(url, options = {}) {
  const hadKey = Boolean(sessionStorage.getItem(KEY_ITEM));
  let response;
  try {
    response = await fetch(url, { ...options, headers: { ...options.headers, ...authorization() } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Failure(String(error.message || error), { network: true });
  }
  if (response.status === 401) throw new KeyRefused(hadKey ? "refused" : "");
  return response;
}

function seconds(value) {
  const number = Number(value);
  return value !== null && value !== undefined && value !== "" && Number.isFinite(number) && number >= 0 ? number : null;
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch (ignored) {}
  const parts = [response.status + " " + response.statusText];
  if (body.message) parts.push(body.message);
  if (body.request_id) parts.push("request id " + body.request_id);
  return new Failure(parts.join(" · "), {
    status: response.status,
    retryAfter: seconds(response.headers.get("retry-after")) ?? seconds(body.retry_after),
  });
}

function eventFailure(error) {
  const parts = [error.message || "the answer failed"];
  if (error.status) parts.unshift(String(error.status));
  if (error.type) parts.push("type " + error.type);
  if (error.code) parts.push("code " + error.code);
  if (error.request_id) parts.push("request id " + error.request_id);
  return new Failure(parts.join(" · "), { status: error.status || null, retryAfter: seconds(error.retry_after) });
}

// The plain-words title of a failed answer; ``answered``: some text had arrived.
function explain(failure, answered) {
  const status = failure.status;
  if (status === 429) return "The service is busy.";
  if (status === 413) return "This conversation is too long to send. Start a new chat.";
  if (status === 401 || status === 403) return "The server refused the request.";
  if (status >= 500) return answered ? "The answer was cut off." : "The service had a problem and could not answer.";
  if (status >= 400) return "The service did not accept the question.";
  if (failure.network) return "Could not reach the server. Is it still running?";
  return answered ? "The answer was cut off." : "No answer came.";
}

// --- The transcript ----------------------------------------------------------------------------

function loadItems() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) || "[]");
    if (!Array.isArray(saved)) return [];
    const list = saved.filter((item) => item && (item.role === "user" || item.role === "assistant"));
    list.forEach((item, index) => {
      if (typeof item.content !== "string") item.content = "";
      // The page was left while this answer streamed: it ended there, as if stopped.
      if (item.streaming) {
        delete item.streaming;
        item.stopped = true;
        if (!item.content && index > 0) list[index - 1].unsent = true;
      }
    });
    return list;
  } catch (ignored) {
    return [];
  }
}

function save(list) {
  if (list !== items) return; // an old chat's answer finishing late
  try {
    if (items.length) localStorage.setItem(STORE, JSON.stringify(items));
    else localStorage.removeItem(STORE);
  } catch (ignored) {} // full or disabled storage: the page still works, it just forgets
}

// What the model is sent: the questions that were sent and the text that came back.
function context(list) {
  return list.filter((item) => !item.unsent && item.content).map(({ role, content }) => ({ role, content }));
}

function isLast(item) {
  return items[items.length - 1] === item;
}

function notice(item) {
  const box = document.createElement("div");
  box.className = "notice";
  box.setAttribute("role", "alert");
  const text = document.createElement("p");
  text.className = "notice-text";
  text.append(item.error.title);
  const live = document.createElement("span");
  live.className = "countdown";
  text.append(live);
  box.append(text);
  if (item.error.detail) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Technical details";
    const pre = document.createElement("pre");
    pre.textContent = item.error.detail;
    details.append(summary, pre);
    box.append(details);
  }
  if (isLast(item)) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "Retry";
    box.append(retry);
  }
  return box;
}

function render(item, element = document.createElement("div")) {
  element.className = "message " + item.role;
  element.replaceChildren();
  if (item.role === "user") {
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = item.content;
    element.append(text);
    if (item.unsent) {
      element.classList.add("unsent");
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = "Not sent: the model has not seen this question.";
      element.append(note);
    }
    return element;
  }
  const body = document.createElement("div");
  body.className = "body";
  body.innerHTML = renderMarkdown(item.content);
  element.append(body);
  if (item.stopped) element.classList.add("stopped");
  if (item.error) element.append(notice(item));
  else if (item.stopped && !item.content) body.textContent = "Stopped before any answer came.";
  const typing = document.createElement("span");
  typing.className = "typing";
  typing.setAttribute("aria-label", "The model is writing");
  typing.append(...[1, 2, 3].map(() => document.createElement("span")));
  element.append(typing);
  return element;
}

function add(item) {
  const element = render(item);
  $("log").appendChild(element);
  return element;
}

// --- Scrolling: the newest content stays above the input bar while the reader is at the bottom --

function atBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight <= 24;
}

function reveal() {
  if (following) $("log").scrollTop = $("log").scrollHeight;
  $("jump").hidden = following || atBottom();
}

$("log").addEventListener("scroll", () => {
  following = atBottom();
  $("jump").hidden = following;
});
$("jump").addEventListener("click", () => {
  following = true;
  reveal();
  $("prompt").focus();
});
new ResizeObserver(() => reveal()).observe($("log"));

// --- The page --------------------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === "streaming" || state === "waiting";
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  $("model").disabled = busy;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

class Stats {
  constructor() {
    this.started = performance.now();
    this.first = null;
    this.last = null;
    this.tokens = 0; // content events until the usage says otherwise
  }
  content() {
    const now = performance.now();
    if (this.first === null) this.first = now;
    this.last = now;
    this.tokens += 1;
  }
  show(usage) {
    const tokens = usage ? usage.completion_tokens : this.tokens;
    const parts = [];
    if (this.first !== null) {
      parts.push("first token " + Math.round(this.first - this.started) + " ms");
      // Over fewer tokens or a shorter time the rate measures when chunks were read, not the model
      // (an instant server gives millions of tokens/s): none is shown. The CLI keeps the same rule.
      const seconds = (this.last - this.first) / 1000;
      if (tokens - 1 >= RATE_MIN_TOKENS && seconds >= RATE_MIN_SECONDS)
        parts.push(((tokens - 1) / seconds).toFixed(1) + " tokens/s");
      parts.push(tokens + " tokens");
    }
    $("stats").textContent = parts.join(" · ");
  }
}

function cancelCountdown() {
  if (!countdown) return;
  clearInterval(countdown.timer);
  const live = countdown.element.querySelector(".countdown");
  if (live) live.textContent = "";
  countdown = null;
}

function startCountdown(wait, element) {
  let left = Math.max(1, Math.ceil(wait));
  const live = element.querySelector(".countdown");
  const show = () => (live.textContent = " Retrying in " + left + " s…");
  show();
  setState("waiting");
  const timer = setInterval(() => {
    left -= 1;
    if (left > 0) return show();
    cancelCountdown();
    retryLast();
  }, 1000);
  countdown = { timer, element };
}

// Ask the last failed question again, in place of its failed attempt.
function retryLast() {
  const answer = items[items.length - 1];
  const question = items[items.length - 2];
  if (!answer || answer.role !== "assistant" || !question || question.role !== "user") return;
  cancelCountdown();
  items.splice(-2, 2);
  $("log").lastElementChild.remove();
  $("log").lastElementChild.remove();
  ask(question.content);
}

function stop() {
  if (controller) controller.abort();
  else if (countdown) {
    cancelCountdown();
    setState("error");
  }
  $("prompt").focus();
}

async function ask(prompt) {
  cancelCountdown();
  $("error").hidden = true;
  for (const button of $("log").querySelectorAll(".retry")) button.remove(); // only the last may retry
  const list = items;
  const mine = chatNumber;
  const messages = [...context(list), { role: "user", content: prompt }];
  const question = { role: "user", content: prompt };
  const answer = { role: "assistant", content: "", streaming: true };
  list.push(question, answer);
  save(list);
  const questionElement = add(question);
  const answerElement = add(answer);
  const body = answerElement.querySelector(".body");
  following = true;
  reveal();
  $("prompt").focus();

  let refused = null; // a KeyRefused: ask for the key, then ask the question again
  let usage = null;
  let ended = false;
  let painting = false;
  let silence = null;
  let saved = performance.now();
  const stats = new Stats();
  const quiet = () => {
    clearTimeout(silence);
    answerElement.classList.remove("silent");
    silence = setTimeout(() => answerElement.classList.add("silent"), SILENCE_MS);
  };
  const paint = () => {
    painting = false;
    body.innerHTML = renderMarkdown(answer.content);
    stats.show(usage);
    reveal();
    if (performance.now() - saved > 1000) {
      saved = performance.now();
      save(list);
    }
  };
  answerElement.classList.add("silent");
  controller = new AbortController();
  setState("streaming");
  try {
    const response = await call("chat", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ model: $("model").value, messages }),
      signal: controller.signal,
    });
    if (!response.ok) throw await failure(response);
    for await (const event of readEvents(response.body)) {
      if (event.type === "error") {
        ended = true;
        throw eventFailure(JSON.parse(event.data));
      }
      if (event.data === "[DONE]") {
        ended = true;
        break;
      }
      const data = JSON.parse(event.data);
      if (data.content) {
        answer.content += data.content;
        stats.content();
        quiet();
      }
      if (data.usage) usage = data.usage;
      if (!painting) {
        painting = true; // one repaint per frame however fast tokens come
        requestAnimationFrame(paint);
      }
    }
    if (!ended) throw new Failure("the connection closed before the answer was complete");
  } catch (error) {
    if (mine !== chatNumber) return; // New chat aborted it: that chat is gone
    if (error instanceof KeyRefused) {
      refused = error;
    } else if (error.name === "AbortError") {
      answer.stopped = true;
    } else {
      const known = error instanceof Failure ? error : new Failure(String(error.message || error));
      answer.error = { title: explain(known, Boolean(answer.content)), detail: known.message };
      answer.retryAfter = known.status === 429 ? known.retryAfter : null;
    }
  } finally {
    clearTimeout(silence);
    if (mine === chatNumber) controller = null;
  }
  if (mine !== chatNumber) return;
  if (refused) {
    list.splice(list.indexOf(question), 2);
    questionElement.remove();
    answerElement.remove();
    setState("idle");
    await askForKey(Boolean(refused.message));
    await ask(prompt);
    return;
  }
  delete answer.streaming;
  paint();
  // Nothing came back: the question is not part of the conversation, and the page says so.
  if (!answer.content) question.unsent = true;
  const retryAfter = answer.retryAfter;
  delete answer.retryAfter;
  render(question, questionElement);
  render(answer, answerElement);
  reveal();
  save(list);
  if (answer.error) {
    if (retryAfter !== null && retryAfter !== undefined) startCountdown(retryAfter, answerElement);
    else setState("error");
  } else {
    setState(answer.stopped ? "stopped" : "done");
  }
  $("prompt").focus();
}

async function loadModels() {
  const select = $("model");
  for (;;) {
    try {
      const response = await call("models");
      if (!response.ok) throw await failure(response);
      const { models } = await response.json();
      for (const model of models) select.add(new Option(model, model, false, model === "mistral-small-latest"));
      return;
    } catch (error) {
      if (!(error instanceof KeyRefused)) {
        showError("Could not load the list of models: " + error.message);
        return;
      }
      await askForKey(Boolean(error.message));
    }
  }
}

async function copy(button) {
  const text = button.closest(".code").querySelector("pre").textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (ignored) {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = "Copy"), 1500);
}

$("log").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.classList.contains("copy")) copy(button);
  else if (button.classList.contains("retry") && !controller) retryLast();
});
$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt || controller || countdown) return;
  $("prompt").value = "";
  ask(prompt);
});
$("prompt").addEventListener("keydown", (event) => {
  // Enter while an input method composes a word picks the word: it must not send.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    $("ask").requestSubmit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && (controller || countdown) && !$("key-dialog").open) {
    event.preventDefault();
    stop();
  }
});
$("stop").addEventListener("click", stop);
$("clear").addEventListener("click", () => {
  chatNumber += 1;
  if (controller) controller.abort();
  controller = null;
  cancelCountdown();
  items = [];
  save(items);
  $("log").replaceChildren();
  $("stats").textContent = "";
  $("error").hidden = true;
  following = true;
  reveal();
  setState("idle");
  $("prompt").focus();
});

for (const item of items) add(item);
reveal();
$("prompt").focus();
loadModels().then(() => {
  document.body.dataset.ready = "1";
});
