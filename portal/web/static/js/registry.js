// Registry pages: receive an application, register it, and show the rule that blocks it.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]');
  function headers(json) {
    const h = { "Accept": "application/json" };
    if (json) h["Content-Type"] = "application/json";
    if (csrf) h["X-CSRF-Token"] = csrf.content;
    return h;
  }
  async function call(method, url, body) {
    const response = await fetch(url, { method: method, headers: headers(body !== undefined), credentials: "same-origin",
                                        body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const d = data.detail || {};
      const error = new Error(typeof d === "string" ? d : (Array.isArray(d) ? d.map((e) => e.localized_msg || e.msg).join("; ") : (d.localized_message || d.message)));
      error.rule = d.rule; error.blocking = d.blocking; error.field = d.field;
      throw error;
    }
    return data;
  }
  function show(box, ok, text) {
    box.className = ok ? "ok" : "error";
    box.textContent = text;
  }
  const val = (id) => (document.getElementById(id) || {}).value || "";
  // Names of enumerated values in the page's language (label(kind, value) on the server).
  const labelsNode = document.getElementById("labels");
  const L = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  const label = (kind, value) => ((L[kind] || {})[value]) || value;

  const form = document.getElementById("application-form");
  if (form) {
    const kind = document.getElementById("kind");
    const result = document.getElementById("application-result");
    let unit = null;
    function toggle() {
      form.querySelectorAll("[data-kinds]").forEach((el) => {
        el.hidden = el.dataset.kinds.split(" ").indexOf(kind.value) < 0;
      });
      fillRestrictions();
    }
    function fillRestrictions() {
      const want = { mortgage_discharge: "mortgage", seizure_release: "seizure", objection_cancellation: "objection" }[kind.value];
      const select = document.getElementById("restriction_id");
      select.innerHTML = "";
      ((unit && unit.restrictions) || []).filter((r) => r.kind === want).forEach((r) => {
        const option = document.createElement("option");
        option.value = r.restriction_id;
        option.textContent = [r.restriction_id, label("restriction_status", r.status), r.rank ? "#" + r.rank : "", r.queue_position ? "#" + r.queue_position : "",
                              r.court || "", r.document_number || ""].filter(Boolean).join(" · ");
        select.appendChild(option);
      });
    }
    async function loadUnit() {
      const number = val("unit_number").trim();
      const state = document.getElementById("unit-state");
      unit = null;
      if (number.length !== 28) { state.textContent = ""; fillRestrictions(); return; }
      try {
        unit = await call("GET", "/api/registry/units/" + encodeURIComponent(number));
        state.className = "";
        state.textContent = unit.location + " · " + (unit.restrictions.length ?
          unit.restrictions.map((r) => label("restriction_kind", r.kind) + "（" + label("restriction_status", r.status) + "）").join(", ") : "—");
      } catch (e) { state.className = "error"; state.textContent = e.message; }
      fillRestrictions();
    }
    kind.addEventListener("change", toggle);
    document.getElementById("unit_number").addEventListener("input", loadUnit);
    toggle();
    function request() {
      const k = kind.value;
      const holder = { name: val("holder_name"), id_document_type: val("holder_document_type"), id_document_number: val("holder_document_number") };
      switch (k) {
        case "transfer": return { co_ownership: val("co_ownership"), holders: [holder] };
        case "first_registration": return { co_ownership: val("co_ownership"), holders: [holder], unit: { location: val("location") } };
        case "mortgage": return { mortgagee: { name: val("mortgagee_name"), id_document_type: "unified_social_credit_code", id_document_number: val("mortgagee_code") },
                                  secured_amount: Number(val("secured_amount")), rank: Number(val("rank") || 1), term_end: val("term_end") || null };
        case "seizure": return { court: val("court"), document_number: val("document_number"), term_end: val("seizure_end") || null };
        case "mortgage_discharge": case "seizure_release": case "objection_cancellation": return { restriction_id: Number(val("restriction_id")) };
        case "objection": case "advance_notice": return { party: { name: val("party_name"), id_document_type: "resident_id", id_document_number: val("party_document_number") }, reason: val("reason") };
        case "correction": return { unit: { location: val("corrected_location") } };
      }
      return {};
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      show(result, true, "…");
      let received = null;
      try {
        // Received here; a colleague reviews and registers it from the queue (separation of duties).
        received = await call("POST", "/api/applications", {
          kind: kind.value, unit_number: val("unit_number").trim(), applicant: val("applicant"), request: request(),
          sources: [{ kind: val("source_kind"), reference: val("source_reference") }] });
        // Nothing is lost: the new application is one click away (a refused one was not kept).
        result.className = "ok";
        result.textContent = "";
        const link = document.createElement("a");
        link.href = "/registry/applications/" + received.id;
        link.textContent = received.reference;
        result.append(link, " ✓");
        result.dataset.application = received.id;
      } catch (err) {
        show(result, false, (received ? received.reference + ": " : "") + err.message + (err.rule ? " [" + err.rule + "]" : ""));
        // The field at fault, marked and focused (mortgagee.id_document_number -> #mortgagee_code).
        const ids = { "mortgagee.id_document_number": "mortgagee_code", "mortgagee.name": "mortgagee_name",
                      "party.id_document_number": "party_document_number", "party.name": "party_name",
                      "holders[0].id_document_number": "holder_document_number", "holders[0].name": "holder_name",
                      "unit.location": "location", "secured_amount": "secured_amount", "term_end": "term_end" };
        form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
        const input = err.field && document.getElementById(ids[err.field] || err.field);
        if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      }
    });
  }

  const actions = document.querySelector(".actions[data-application]");
  if (actions) {
    const result = document.getElementById("application-result");
    actions.addEventListener("click", async (e) => {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const url = "/api/applications/" + actions.dataset.application + "/" + button.dataset.action;
      try {
        if (button.dataset.action === "reject") {
          await call("POST", url, { reasons: val("reasons").split("\n").map((r) => r.trim()).filter(Boolean) });
        } else {
          await call("POST", url);
        }
        window.location.reload();
      } catch (err) { show(result, false, err.message + (err.rule ? " [" + err.rule + "]" : "")); }
    });
  }
})();
