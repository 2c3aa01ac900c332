// Passkeys (WebAuthn) in the browser, without any library. A form with data-passkey is one of:
//   "create": the account page's new passkey (options in data-options);
//   "get":    the second factor (options in data-options);
//   "login":  passwordless sign-in (options fetched from data-begin), with the browser's passkey
//             autofill on the email field where it is supported (conditional mediation).
// The browser's answer is put in the form's "credential" field and the form is posted as usual,
// so the server answers with an ordinary page. Failures are shown in plain words from the
// form's data-msg-* attributes (in the page's language), never as a DOMException's name.
// Where the browser has no WebAuthn, the passwordless section stays hidden and nothing else
// changes. The page's Content-Security-Policy allows only Tessera's own script files.
(function () {
  "use strict";

  function toBuffer(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64URL(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    var p = JSON.parse(json).publicKey;
    p.challenge = toBuffer(p.challenge);
    p.user.id = toBuffer(p.user.id);
    (p.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return p;
  }

  function requestOptions(json) {
    var p = JSON.parse(json).publicKey;
    p.challenge = toBuffer(p.challenge);
    (p.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return p;
  }

  function credentialJSON(c) {
    var r = c.response;
    var out = {
      id: c.id,
      rawId: toBase64URL(c.rawId),
      type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64URL(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) {
      out.authenticatorAttachment = c.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64URL(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64URL(r.authenticatorData);
      out.response.signature = toBase64URL(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64URL(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  // The plain words for what the browser said.
  function message(form, err) {
    var names = {
      NotAllowedError: form.getAttribute("data-passkey") === "login" ? "none" : "notallowed",
      AbortError: "cancelled",
      TimeoutError: "timeout",
      InvalidStateError: "exists",
      SecurityError: "security",
      NotSupportedError: "unsupported"
    };
    var key = (err && names[err.name]) || "other";
    return form.getAttribute("data-msg-" + key) || form.getAttribute("data-msg-other");
  }

  function showError(form, err) {
    var box = document.getElementById(form.getAttribute("data-error"));
    if (!box) {
      return;
    }
    box.textContent = message(form, err);
    box.hidden = false;
  }

  function send(form, credential) {
    form.querySelector('input[name="credential"]').value = credentialJSON(credential);
    form.submit();
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.fetch && window.JSON && window.atob);
  }

  function setUp(form) {
    var kind = form.getAttribute("data-passkey");
    var busy = false;
    if (!supported()) {
      if (kind !== "login") {
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          showError(form, { name: "NotSupportedError" });
        });
      }
      return; // the passwordless section stays hidden
    }
    if (kind === "login") {
      setUpLogin(form);
      return;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      var json = form.getAttribute("data-options");
      var call = kind === "create" ?
        navigator.credentials.create({ publicKey: creationOptions(json) }) :
        navigator.credentials.get({ publicKey: requestOptions(json) });
      call.then(function (c) { send(form, c); }, function (err) {
        busy = false;
        showError(form, err);
      });
    });
  }

  function setUpLogin(form) {
    var section = document.getElementById("passkey-signin");
    if (section) {
      section.hidden = false;
    }
    var body = new URLSearchParams();
    body.set("csrf", form.querySelector('input[name="csrf"]').value);
    body.set("authRequestID", form.querySelector('input[name="authRequestID"]').value);
    var options = fetch(form.getAttribute("data-begin"), { method: "POST", body: body, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) {
          throw { name: "Unavailable" };
        }
        return r.text();
      });
    var autofill = null;
    var done = false;
    // The browser's passkey autofill on the email field, where it has one.
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) {
          return;
        }
        options.then(function (json) {
          if (done) {
            return;
          }
          autofill = new AbortController();
          return navigator.credentials.get({ publicKey: requestOptions(json), mediation: "conditional", signal: autofill.signal })
            .then(function (c) {
              done = true;
              send(form, c);
            });
        }).catch(function () { /* aborted for the button, or not used: nothing to say */ });
      }).catch(function () {});
    }
    var busy = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy || done) {
        return;
      }
      busy = true;
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      options.then(function (json) {
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      }).then(function (c) {
        done = true;
        send(form, c);
      }, function (err) {
        busy = false;
        showError(form, err);
      });
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) {
      setUp(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
