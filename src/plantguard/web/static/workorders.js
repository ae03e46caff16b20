// Work-order pages: the acceptance signature pad (plain canvas, pointer events, no library).
// The drawing is sent as a PNG data URL in the hidden "signature" field; an empty pad blocks
// submission (the server checks the image again like any upload).
(function () {
  "use strict";
  function setup(form) {
    var canvas = form.querySelector("[data-signature-pad]");
    var field = form.querySelector("input[name=signature]");
    var missing = form.querySelector("[data-signature-missing]");
    var ctx = canvas.getContext("2d");
    var drawing = false, drawn = false, last = null;
    ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.strokeStyle = "#111";
    function point(e) {
      var r = canvas.getBoundingClientRect();
      return { x: (e.clientX - r.left) * canvas.width / r.width, y: (e.clientY - r.top) * canvas.height / r.height };
    }
    canvas.addEventListener("pointerdown", function (e) {
      drawing = true; last = point(e); canvas.setPointerCapture(e.pointerId); e.preventDefault();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return;
      var p = point(e);
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      last = p; drawn = true; if (missing) missing.hidden = true;
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      canvas.addEventListener(t, function () { drawing = false; });
    });
    var clear = form.querySelector("[data-signature-clear]");
    if (clear) clear.addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false; field.value = "";
    });
    form.addEventListener("submit", function (e) {
      if (!drawn) { e.preventDefault(); if (missing) missing.hidden = false; return; }
      field.value = canvas.toDataURL("image/png");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-signature-form]").forEach(setup);
  });
})();
