// Keyboard answers on the case page: each option's key (shown beside it) picks it,
// Enter submits; the submit button is disabled after the first submit.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable) ||
      (tag === "INPUT" && !/^(radio|checkbox|submit|button)$/i.test(target.type));
  }

  var submitted = false;
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; button.classList.add("busy"); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form.contains(event.target)) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key) return;
    var input = form.querySelector('input[data-key="' + CSS.escape(key) + '"]');
    if (!input) return;
    event.preventDefault();
    if (input.type === "checkbox") input.checked = !input.checked;
    else input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    input.focus({ preventScroll: true });
  });
})();
