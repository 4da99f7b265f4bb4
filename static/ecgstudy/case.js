// Keyboard answers on the case page: each option's key (shown beside it) picks it,
// Enter submits; the submit button is disabled after the first submit. A key only
// ever picks (pressing it twice keeps a checkbox ticked); a click toggles as usual.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;

  // Time-limited studies: once its exposure is over the sheet leaves the page
  // (the viewer and its waveform are removed, not hidden); the server never
  // sends it again. The clock starts when the page is first painted, so a slow
  // paint of a large sheet does not eat into the exposure; where paint timing is
  // missing, or the page is hidden and never painted, from two frames on, and
  // at the latest a second past the exposure.
  var exposed = document.querySelector(".case-sheet[data-exposure-ms]");
  if (exposed) {
    var exposureMs = parseInt(exposed.getAttribute("data-exposure-ms"), 10);
    var started = false;
    var endExposure = function () {
      var viewer = exposed.querySelector(".ecg-viewer");
      if (viewer) viewer.remove();
      var over = exposed.querySelector(".exposure-over");
      if (over) over.hidden = false;
      exposed.classList.add("exposure-done");
    };
    var countFrom = function (paintedAt) {
      if (started) return;
      started = true;
      var left = exposureMs - (performance.now() - paintedAt);
      window.setTimeout(endExposure, Math.max(0, left));
    };
    var paintTiming = window.PerformanceObserver &&
      (PerformanceObserver.supportedEntryTypes || []).indexOf("paint") >= 0;
    if (paintTiming) {
      new PerformanceObserver(function (list, observer) {
        list.getEntries().forEach(function (entry) {
          if (entry.name === "first-contentful-paint") {
            observer.disconnect();
            countFrom(entry.startTime);
          }
        });
      }).observe({ type: "paint", buffered: true });
      window.setTimeout(endExposure, exposureMs + 1000);
    } else {
      window.requestAnimationFrame(function () {
        window.requestAnimationFrame(function () { countFrom(performance.now()); });
      });
    }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable) ||
      (tag === "INPUT" && !/^(radio|checkbox|submit|button)$/i.test(target.type));
  }

  function somethingPicked() {
    if (form.querySelector("input[type=radio]:checked, input[type=checkbox]:checked")) {
      return true;
    }
    var text = form.querySelector("textarea");
    return Boolean(text && text.value.trim());
  }

  // The viewer's settings the answer was given under, for the study's records.
  function recordDisplay() {
    var field = form.querySelector("input[name=display]");
    var viewer = document.querySelector(".ecg-viewer");
    if (!field || !viewer || !viewer.ecgViewer) return;
    var state = viewer.ecgViewer.state();
    field.value = JSON.stringify({
      layout: state.layout,
      gain: state.gain,
      zoom: Math.round(state.zoom * 100) / 100,
      calipers: Boolean(state.calipersUsed),
      voltage: Boolean(state.voltageUsed),
    });
  }

  var submitted = false;
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
    try { recordDisplay(); } catch (ignored) { /* the answer matters more */ }
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; button.classList.add("busy"); }
  });

  // After a refused answer, a question the reader has now answered no longer
  // says "Please answer this question".
  function clearError(event) {
    var question = event.target.closest && event.target.closest("fieldset.has-error");
    if (!question) return;
    if (event.target.tagName === "TEXTAREA" && !event.target.value.trim()) return;
    question.classList.remove("has-error");
    question.querySelectorAll("p.error").forEach(function (node) { node.remove(); });
  }
  form.addEventListener("change", clearError);
  form.addEventListener("input", clearError);

  var pause = document.getElementById("take-a-break");
  if (pause) {
    pause.addEventListener("click", function (event) {
      if (somethingPicked() && !window.confirm(pause.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form.contains(event.target)) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Enter") {
      if (event.target && event.target.tagName === "A") return;
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key) return;
    var input = form.querySelector('input[data-key="' + CSS.escape(key) + '"]');
    if (!input) return;
    event.preventDefault();
    if (!input.checked) {
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    input.focus({ preventScroll: true });
  });
})();
