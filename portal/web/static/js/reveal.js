// The registrar's view of a check: a holder's full identity number, revealed on request with the
// purpose typed in (POST /api/registry/parties/{id}/identity-number; each reveal is an audit row).
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]');
  document.querySelectorAll("form.reveal-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector("output");
      const headers = { "Accept": "application/json", "Content-Type": "application/json" };
      if (csrf) headers["X-CSRF-Token"] = csrf.content;
      const response = await fetch("/api/registry/parties/" + encodeURIComponent(form.dataset.party) + "/identity-number", {
        method: "POST", headers: headers, credentials: "same-origin",
        body: JSON.stringify({ purpose: form.elements.reveal_purpose.value }) });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        out.className = "ok";
        out.textContent = data.id_document_number;
      } else {
        const d = data.detail || {};
        out.className = "error";
        out.textContent = typeof d === "string" ? d : (Array.isArray(d) ? d.map((e) => e.localized_msg || e.msg).join("; ")
                                                                         : (d.localized_message || d.message || response.status));
      }
    });
  });
})();
