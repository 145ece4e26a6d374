/* Save the guide with the session's CSRF token in X-CSRF-Token (from <meta name="csrf-token">),
   as every state-changing call made with a session cookie must; without scripts the form
   posts as usual. A refusal (422) replaces the page with the form and its error. */
(function () {
  "use strict";
  var form = document.querySelector("form.guide-form");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!form || !window.fetch) return;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var headers = {"X-Requested-With": "fetch"};
    if (meta && meta.content) headers["X-CSRF-Token"] = meta.content;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)), headers: headers,
                        credentials: "same-origin"})
      .then(function (response) {
        if (response.redirected) { window.location.assign(response.url); return null; }
        return response.text().then(function (html) {
          document.open(); document.write(html); document.close();
        });
      })
      .catch(function (error) { button.disabled = false; alert(error.message); });
  });
})();
