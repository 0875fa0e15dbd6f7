/* Saved replies in the reply box (templates/replies/_composer.html, docs/saved-replies.md).

   Typing "/" at the start of the reply or after a space, plus a few letters, lists the matching
   saved replies (GET /saved-replies/search/); the "Saved replies" button opens the same list
   with a search box. Up/Down move, Enter or Tab (or a click) inserts, Escape closes. The text
   inserted is rendered by the server for this conversation (GET /saved-replies/<id>/rendered/):
   placeholders are filled there, never here. No third-party code; without JavaScript the
   reply box is the plain textarea it was. */
(function () {
  "use strict";

  var SLASH = /(^|\s)\/([^\s\/]{0,100})$/;
  var DEBOUNCE_MS = 120;

  function setUp(root) {
    var box = document.getElementById(root.getAttribute("data-target"));
    if (!box) { return; }
    var list = root.querySelector(".sr-suggestions");
    var pickerButton = root.querySelector(".sr-picker-button");
    var picker = root.querySelector(".sr-picker");
    var pickerInput = root.querySelector("#sr-picker-q");
    var status = root.querySelector(".sr-status");
    var searchUrl = root.getAttribute("data-search-url");
    var renderedUrl = root.getAttribute("data-rendered-url");
    var conversation = root.getAttribute("data-conversation");

    var items = [];
    var active = -1;
    var mode = null; // "slash" (token in the textarea) or "picker" (the search box)
    var slashStart = -1; // where the "/" of the token is in the textarea
    var timer = null;
    var pending = null; // the AbortController of the search in flight

    box.setAttribute("aria-controls", list.id);
    box.setAttribute("aria-autocomplete", "list");

    function say(text) { status.textContent = text || ""; }

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      items = [];
      active = -1;
      mode = null;
      box.removeAttribute("aria-activedescendant");
      pickerInput.removeAttribute("aria-activedescendant");
      pickerInput.setAttribute("aria-expanded", "false");
      if (pending) { pending.abort(); pending = null; }
      window.clearTimeout(timer);
    }

    function closePicker() {
      picker.hidden = true;
      pickerButton.setAttribute("aria-expanded", "false");
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      active = index;
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
        option.classList.toggle("active", i === index);
      });
      var owner = mode === "picker" ? pickerInput : box;
      if (index >= 0 && options[index]) {
        owner.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      } else {
        owner.removeAttribute("aria-activedescendant");
      }
    }

    function show(results) {
      list.innerHTML = "";
      items = results;
      if (!results.length) {
        var none = document.createElement("li");
        none.className = "sr-none muted";
        none.textContent = root.getAttribute("data-empty");
        list.appendChild(none);
      }
      results.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = "sr-option-" + item.id;
        li.setAttribute("role", "option");
        li.setAttribute("data-shortcut", item.shortcut);
        var head = document.createElement("span");
        head.className = "sr-option-head";
        var shortcut = document.createElement("code");
        shortcut.textContent = "/" + item.shortcut;
        var title = document.createElement("strong");
        title.textContent = item.title;
        var scope = document.createElement("span");
        scope.className = "muted sr-scope";
        scope.textContent = item.scope_label + (item.language ? " · " + item.language.toUpperCase() : "");
        head.appendChild(shortcut);
        head.appendChild(title);
        head.appendChild(scope);
        var preview = document.createElement("span");
        preview.className = "sr-preview";
        preview.textContent = item.preview;
        li.appendChild(head);
        li.appendChild(preview);
        // mousedown, not click: the textarea must keep its focus (and its caret).
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(i);
        });
        list.appendChild(li);
      });
      list.hidden = false;
      pickerInput.setAttribute("aria-expanded", mode === "picker" ? "true" : "false");
      highlight(results.length ? 0 : -1);
    }

    function search(q) {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        if (pending) { pending.abort(); }
        pending = new AbortController();
        var url = searchUrl + "?" + new URLSearchParams({ q: q, conversation: conversation });
        var currentMode = mode;
        fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          signal: pending.signal
        })
          .then(function (response) {
            if (!response.ok) { throw new Error("search: " + response.status); }
            return response.json();
          })
          .then(function (data) {
            if (mode === currentMode && mode !== null) {
              say("");
              show(data.results || []);
            }
          })
          .catch(function (error) {
            if (error.name !== "AbortError") { say(root.getAttribute("data-failed")); }
          });
      }, DEBOUNCE_MS);
    }

    function insert(text) {
      var value = box.value;
      var start, end;
      if (mode === "slash" && slashStart >= 0) {
        start = slashStart;
        end = box.selectionStart;
      } else {
        start = box.selectionStart;
        end = box.selectionEnd;
      }
      box.value = value.slice(0, start) + text + value.slice(end);
      var caret = start + text.length;
      box.focus();
      box.setSelectionRange(caret, caret);
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function choose(index) {
      var item = items[index];
      if (!item) { return; }
      var chosenMode = mode;
      var url = renderedUrl.replace("/0/", "/" + item.id + "/") + "?" +
        new URLSearchParams({ conversation: conversation });
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("rendered: " + response.status); }
          return response.json();
        })
        .then(function (data) {
          mode = chosenMode;
          insert(data.body);
          close();
          closePicker();
          say("");
        })
        .catch(function () { say(root.getAttribute("data-failed")); });
    }

    function keys(event) {
      if (list.hidden || mode === null) { return; }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!items.length) { return; }
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight((active + step + items.length) % items.length);
      } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
        event.preventDefault();
        choose(active);
      } else if (event.key === "Escape") {
        event.preventDefault();
        var wasPicker = mode === "picker";
        close();
        if (wasPicker) { closePicker(); box.focus(); }
      }
    }

    // "/" typed in the reply: the token from the slash to the caret is the query.
    box.addEventListener("input", function () {
      if (mode === "picker") { return; }
      var before = box.value.slice(0, box.selectionStart);
      var match = SLASH.exec(before);
      if (!match || box.selectionStart !== box.selectionEnd) {
        if (mode === "slash") { close(); }
        return;
      }
      mode = "slash";
      slashStart = before.length - match[2].length - 1;
      search(match[2]);
    });
    box.addEventListener("keydown", function (event) {
      if (mode === "slash") { keys(event); }
    });
    box.addEventListener("blur", function () {
      if (mode === "slash") { window.setTimeout(close, 150); }
    });

    // The picker: a search box over the same list, inserting at the caret.
    pickerButton.addEventListener("click", function () {
      if (!picker.hidden) {
        close();
        closePicker();
        return;
      }
      close();
      picker.hidden = false;
      pickerButton.setAttribute("aria-expanded", "true");
      mode = "picker";
      pickerInput.value = "";
      pickerInput.focus();
      search("");
    });
    pickerInput.addEventListener("input", function () {
      mode = "picker";
      search(pickerInput.value);
    });
    pickerInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (list.hidden || active < 0)) {
        event.preventDefault(); // never submit the reply from the search box
        return;
      }
      keys(event);
    });
    document.addEventListener("mousedown", function (event) {
      if (mode === "picker" && !root.contains(event.target)) {
        close();
        closePicker();
      }
    });
  }

  document.querySelectorAll("[data-saved-replies]").forEach(setUp);
})();
