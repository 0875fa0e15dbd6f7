/* The composer (docs/composer.md): quoting a message, reacting, checking attachments before the
   upload, recording a voice note, and the read-receipt / typing pings. Every form also works
   without this script (plain POSTs); the script only adds what needs a browser. */
(function () {
  "use strict";
  const csrf = () => (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      body: body || new FormData(),
      headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch" },
      credentials: "same-origin",
    });
  }

  /* --- pings: opened (read receipt) and typing, each throttled by the server as well --- */
  const ping = document.querySelector("[data-composer-ping]");
  if (ping) {
    const seen = () => { if (document.visibilityState === "visible") post(ping.dataset.seenUrl); };
    seen();
    document.addEventListener("visibilitychange", seen);
    let lastTyping = 0;
    document.addEventListener("input", (event) => {
      if (!event.target.closest || !event.target.closest("#reply-box")) return;
      const now = Date.now();
      if (now - lastTyping < 10000) return;
      lastTyping = now;
      post(ping.dataset.typingUrl);
    });
  }

  /* --- quoting: "Reply" on a message fills every reply_to of the page --- */
  function setQuote(wamid, text) {
    document.querySelectorAll("[data-quote-input]").forEach((input) => { input.value = wamid; });
    const banner = document.querySelector("[data-quote-banner]");
    if (!banner) return;
    banner.hidden = !wamid;
    banner.querySelector("[data-quote-text]").textContent = text || "";
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".quote-this");
    if (button) {
      setQuote(button.dataset.wamid, button.dataset.quote);
      const box = document.getElementById("id_reply_body");
      if (box) box.focus();
      return;
    }
    if (event.target.closest && event.target.closest("[data-quote-clear]")) setQuote("", "");
  });

  const tools = document.getElementById("composer-tools");
  if (!tools) return;
  const limits = JSON.parse(tools.dataset.limits || "{}");
  const texts = limits.messages || {};
  const KINDS = ["image", "video", "audio", "document"];
  const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (m, key) => (key in values ? values[key] : m));

  /* --- attachments: WhatsApp's types and sizes checked before the upload --- */
  const attach = document.getElementById("attach-form");
  if (attach) {
    const error = attach.querySelector(".attach-error");
    const check = () => {
      const files = Array.from(attach.querySelector("input[type=file]").files);
      let problem = files.length > limits.count ? texts.too_many : "";
      for (const file of files) {
        if (problem) break;
        const type = (file.type || "").toLowerCase();
        const kind = KINDS.find((k) => (limits.types[k] || []).includes(type));
        if (!kind) {
          problem = fill(texts.bad_type, { name: file.name, type: type || "?" });
        } else if (file.size > limits.max[kind]) {
          problem = fill(texts.too_big, {
            name: file.name,
            size: (file.size / 1048576).toFixed(1),
            limit: Math.floor(limits.max[kind] / 1048576),
            kind: (texts.kinds || {})[kind] || kind,
          });
        }
      }
      error.textContent = problem;
      error.hidden = !problem;
      return !problem;
    };
    attach.querySelector("input[type=file]").addEventListener("change", check);
    attach.addEventListener("submit", (event) => { if (!check()) event.preventDefault(); });
  }

  /* --- a voice note: MediaRecorder (WebM/Opus in Chromium, Ogg in Firefox); the server makes
     it OGG/Opus, WhatsApp's voice format --- */
  const voiceButton = tools.querySelector(".voice-button");
  const voiceStatus = tools.querySelector(".voice-status");
  let recorder = null;
  let chunks = [];
  if (voiceButton) {
    voiceButton.addEventListener("click", async () => {
      if (recorder && recorder.state === "recording") { recorder.stop(); return; }
      if (!navigator.mediaDevices || !window.MediaRecorder) {
        voiceStatus.textContent = tools.dataset.noMic;
        return;
      }
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (e) {
        voiceStatus.textContent = tools.dataset.noMic;
        return;
      }
      const type = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus"].find((t) => MediaRecorder.isTypeSupported(t));
      recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      chunks = [];
      recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        voiceButton.setAttribute("aria-pressed", "false");
        sendVoice(new Blob(chunks, { type: recorder.mimeType || "audio/webm" }));
      };
      recorder.start(250);
      voiceButton.setAttribute("aria-pressed", "true");
      voiceStatus.textContent = tools.dataset.recording;
    });
  }
  function sendVoice(blob) {
    const data = new FormData();
    data.append("voice", blob, blob.type.startsWith("audio/ogg") ? "voice.ogg" : "voice.webm");
    const quote = document.querySelector("[data-quote-input]");
    data.append("reply_to", quote ? quote.value : "");
    voiceStatus.textContent = tools.dataset.sending;
    post(tools.dataset.voiceUrl, data).then((r) => r.text().then((text) => {
      if (r.ok) { location.reload(); return; }
      voiceStatus.textContent = tools.dataset.failed + " " + text;
    }));
  }
  // For tests and for other scripts: send a recording made elsewhere.
  tools.sendVoice = sendVoice;
})();
