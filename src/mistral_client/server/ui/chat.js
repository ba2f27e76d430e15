// The chat page: posts the conversation to /ui/chat and reads the answer as server-sent events
// from the fetch body (EventSource can only GET, and cannot be aborted mid-answer as cleanly).
// A server started with --api-key answers the page's calls with 401 until they carry its key: the
// page then asks for it, keeps it in sessionStorage (this tab only, gone when the tab closes) and
// asks again whenever the server refuses it.
// The model's text is untrusted: it is HTML-escaped first, then a small markdown subset is applied
// to the escaped text, so no tag or attribute from the model can reach the DOM.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = []; // {role, content} of the conversation so far
let controller = null; // the AbortController of the answer being streamed
// Bumped by New chat: an answer still finishing belongs to the old chat and must not touch the new one.
let chatNumber = 0;

// --- Markdown, safely ------------------------------------------------------------------------

function escapeHtml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

// Inline markup on text that is already escaped: `code`, **bold**, *italic*, [links](https://...).
function inline(escaped) {
  return escaped
    .split(/(`[^`\n]+`)/)
    .map((part, index) => {
      if (index % 2 === 1) return "<code>" + part.slice(1, -1) + "</code>";
      return part
        .replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*\w])\*(?=\S)([^*\n]+?)\*(?!\*)/g, "$1<em>$2</em>")
        .replace(/(^|[^\w])_(?=\S)([^_\n]+?)_(?!\w)/g, "$1<em>$2</em>")
        // Only http(s) targets become links: javascript:, data: and the rest stay plain text.
        .replace(
          /\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g,
          '<a href="$2" rel="noopener noreferrer nofollow" target="_blank">$1</a>'
        );
    })
    .join("");
}

function renderMarkdown(text) {
  const lines = escapeHtml(text).split("\n");
  const html = [];
  let paragraph = [];
  let list = null; // "ul" or "ol" while inside a list

  const flush = () => {
    if (paragraph.length) html.push("<p>" + paragraph.map(inline).join("<br>") + "</p>");
    paragraph = [];
    if (list) html.push("</" + list + ">");
    list = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      flush();
      const code = [];
      while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i]);
      html.push("<pre><code>" + code.join("\n") + "</code></pre>");
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = Math.min(heading[1].length + 1, 6); // the page's own h1 stays the only big title
      html.push("<h" + level + ">" + inline(heading[2]) + "</h" + level + ">");
    } else if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (paragraph.length || list !== kind) flush();
      if (!list) html.push("<" + kind + ">");
      list = kind;
      html.push("<li>" + inline((bullet || numbered)[1]) + "</li>");
    } else if (line.trim() === "") {
      flush();
    } else {
      if (list) flush();
      paragraph.push(line);
    }
  }
  flush();
  return html.join("");
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
  const waiting = keyWaiters;
  keyWaiters = [];
  for (const resolve of waiting) resolve();
});
// Escape would close the dialog and leave the page without a key: it stays until one is given.
$("key-dialog").addEventListener("cancel", (event) => event.preventDefault());

class KeyRefused extends Error {}

// fetch, with the key when there is one; a 401 is KeyRefused.
async function call(url, options = {}) {
  const hadKey = Boolean(sessionStorage.getItem(KEY_ITEM));
  const response = await fetch(url, { ...options, headers: { ...options.headers, ...authorization() } });
  if (response.status === 401) throw new KeyRefused(hadKey ? "refused" : "");
  return response;
}

async function failure(response) {
  let message = response.status + " " + response.statusText;
  try {
    message = (await response.json()).message || message;
  } catch (ignored) {}
  return new Error(message);
}

// --- The page --------------------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === "streaming";
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  $("model").disabled = busy;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function addMessage(role, text) {
  const element = document.createElement("div");
  element.className = "message " + role;
  if (role === "user") element.textContent = text;
  else element.innerHTML = renderMarkdown(text);
  $("log").appendChild(element);
  element.scrollIntoView({ block: "end" });
  return element;
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
      const seconds = (this.last - this.first) / 1000;
      if (seconds > 0 && tokens > 1) parts.push(((tokens - 1) / seconds).toFixed(1) + " tokens/s");
      parts.push(tokens + " tokens");
    }
    $("stats").textContent = parts.join(" · ");
  }
}

async function ask(prompt) {
  $("error").hidden = true;
  conversation.push({ role: "user", content: prompt });
  const question = addMessage("user", prompt);
  const answer = addMessage("assistant", "");
  let refused = null; // a KeyRefused: ask for the key, then ask the question again
  let text = "";
  let usage = null;
  let ended = false;
  let painting = false;
  const stats = new Stats();
  const paint = () => {
    painting = false;
    answer.innerHTML = renderMarkdown(text);
    stats.show(usage);
  };
  const mine = chatNumber;
  controller = new AbortController();
  setState("streaming");
  try {
    const response = await call("chat", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ model: $("model").value, messages: conversation }),
      signal: controller.signal,
    });
    if (!response.ok) throw await failure(response);
    for await (const event of readEvents(response.body)) {
      if (event.type === "error") {
        const error = JSON.parse(event.data);
        ended = true;
        throw new Error(error.message || "the answer failed");
      }
      if (event.data === "[DONE]") {
        ended = true;
        break;
      }
      const data = JSON.parse(event.data);
      if (data.content) {
        text += data.content;
        stats.content();
      }
      if (data.usage) usage = data.usage;
      if (!painting) {
        painting = true; // one repaint per frame however fast tokens come
        requestAnimationFrame(paint);
      }
    }
    if (!ended) throw new Error("the connection closed before the answer was complete");
    if (mine !== chatNumber) return;
    paint();
    setState("done");
  } catch (error) {
    if (mine !== chatNumber) return; // New chat aborted it: that chat is gone
    paint();
    if (error instanceof KeyRefused) {
      refused = error;
      question.remove();
      answer.remove();
      setState("idle");
    } else if (error.name === "AbortError") {
      answer.classList.add("stopped");
      setState("stopped");
    } else {
      showError(error.message);
      setState("error");
    }
  } finally {
    if (mine === chatNumber) controller = null;
  }
  if (mine === chatNumber) {
    // A partial answer stays in the conversation; nothing at all leaves the question open to ask again.
    if (text) conversation.push({ role: "assistant", content: text });
    else conversation.pop();
  }
  if (refused) {
    await askForKey(Boolean(refused.message));
    await ask(prompt);
  }
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
        showError("could not load the models: " + error.message);
        return;
      }
      await askForKey(Boolean(error.message));
    }
  }
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt || controller) return;
  $("prompt").value = "";
  ask(prompt);
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("ask").requestSubmit();
  }
});
$("stop").addEventListener("click", () => controller && controller.abort());
$("clear").addEventListener("click", () => {
  chatNumber += 1;
  if (controller) controller.abort();
  controller = null;
  conversation.length = 0;
  $("log").replaceChildren();
  $("stats").textContent = "";
  $("error").hidden = true;
  setState("idle");
});
loadModels().then(() => {
  document.body.dataset.ready = "1";
});
