// The "press 1" waiting page: where scripts run, it asks every few seconds whether the call was
// answered and, once it was (or the call ended), continues as the "I pressed 1 — continue"
// button does. Without scripts the button is the way on. The page's Content-Security-Policy
// allows only Tessera's own script files.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("call-check");
  if (!form || !window.fetch) {
    return;
  }
  var id = form.querySelector('input[name="authRequestID"]').value;
  var left = 60; // three minutes, the life of a call
  function poll() {
    if (left-- <= 0) {
      return;
    }
    fetch("/mfa/call-status?authRequestID=" + encodeURIComponent(id), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.state && s.state !== "pending") {
          form.submit();
          return;
        }
        setTimeout(poll, 3000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 3000);
});
