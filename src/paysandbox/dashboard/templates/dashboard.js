(function () {
  "use strict";
  // Live updates: every few seconds, re-fetch this page's live block (?fragment=live) and swap
  // it in, unless the person is typing in a form inside it. Without JavaScript the page is
  // complete as served; reload to refresh.
  var live = document.querySelector("[data-live]");
  if (live && window.fetch && document.body.hasAttribute("data-poll")) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      var active = document.activeElement;
      if (active && live.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return;
      var url = new URL(window.location.href);
      url.searchParams.set("fragment", "live");
      url.searchParams.delete("done");
      busy = true;
      fetch(url.toString(), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && html !== live.innerHTML) live.innerHTML = html; })
        .catch(function () {})
        .then(function () { busy = false; });
    }, 3000);
  }
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
