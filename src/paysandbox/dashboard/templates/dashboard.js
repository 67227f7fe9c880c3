(function () {
  "use strict";
  // Live updates: every few seconds, re-fetch this page's live block (?fragment=live) and swap
  // it in when its version (X-Live-Version, a hash of the block as the server renders it)
  // differs from the one shown — not by comparing HTML text, which never matched, so every poll
  // rebuilt the block and took the keyboard focus, typed values and open sections with it.
  // Nothing is swapped while the person is in the block (a focused field or button): the swap
  // waits. A 401 or 403 (the session ended) stops polling and says so. The header's sandbox
  // clock, outside the block, is set from every poll's X-Sandbox-Clock / -Offset headers (it
  // stayed at the page's load time). Without JavaScript the page is complete as served; reload
  // to refresh.
  var live = document.querySelector("[data-live]");
  var clock = document.querySelector("[data-testid=clock]");
  var clockOffset = document.querySelector("[data-testid=clock-offset]");
  if (live && window.fetch && document.body.hasAttribute("data-poll")) {
    var busy = false;
    var shown = live.getAttribute("data-live-version");
    var timer = null;
    var inside = function () {
      var active = document.activeElement;
      return active && active !== document.body && live.contains(active);
    };
    var ended = function () {
      clearInterval(timer);
      var note = document.createElement("p");
      note.className = "notice bad";
      note.setAttribute("role", "alert");
      note.setAttribute("data-testid", "session-ended");
      note.textContent = "Your session has ended: reload the page to sign in again.";
      live.parentNode.insertBefore(note, live);
    };
    timer = setInterval(function () {
      if (busy || document.hidden || inside()) return;
      var url = new URL(window.location.href);
      url.searchParams.set("fragment", "live");
      url.searchParams.delete("done");
      busy = true;
      fetch(url.toString(), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 401 || r.status === 403) { ended(); return null; }
          if (!r.ok) return null;
          var now = r.headers.get("X-Sandbox-Clock");
          if (now && clock) clock.textContent = now;
          if (now && clockOffset) {
            clockOffset.textContent = r.headers.get("X-Sandbox-Clock-Offset") || "";
            clockOffset.hidden = !clockOffset.textContent;
          }
          var version = r.headers.get("X-Live-Version");
          return r.text().then(function (html) { return [version, html]; });
        })
        .then(function (got) {
          if (got === null || got[0] === shown || inside()) return;
          live.innerHTML = got[1];
          shown = got[0];
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, 3000);
  }
  // A form that asks before it acts (data-confirm="…").
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  // "Copy as curl" on a journal entry.
  var button = document.querySelector("[data-copy-curl]");
  var text = document.querySelector("[data-curl]");
  if (button && text) {
    text.value = text.value.split("{origin}").join(window.location.origin);
    button.hidden = false;
    button.addEventListener("click", function () {
      text.hidden = false;
      text.select();
      if (navigator.clipboard) navigator.clipboard.writeText(text.value).catch(function () {});
      button.textContent = "Copied";
    });
  }
})();
