// What every page's calls to the JSON API share (window.portalApi): the headers (JSON, and the
// session's CSRF token from <meta name="csrf-token">), and the message of a refusal in the
// page's language (the API's `localized_message`, field errors' `localized_msg`), falling back
// to the English `message`. Loaded before the page's own script.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]');
  function headers(extra) {
    const h = Object.assign({ "Accept": "application/json" }, extra || {});
    if (csrf) h["X-CSRF-Token"] = csrf.content;
    return h;
  }
  function message(body) {
    const d = body && body.detail;
    if (!d) return "";
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => e.localized_msg || e.msg).join("; ");
    return d.localized_message || d.message || JSON.stringify(d);
  }
  window.portalApi = { headers: headers, message: message };
})();
