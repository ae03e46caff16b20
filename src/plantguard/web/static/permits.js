/* The apply form: show only the chosen work type's grade and fields (the others are disabled,
   so they are not posted), and add worker / job-step rows. Works without it too: the page then
   shows the type chosen in the URL (?type=...). */
(function () {
  "use strict";
  function showType(code) {
    document.querySelectorAll(".pt-type-fields").forEach(function (fs) {
      var on = fs.getAttribute("data-type") === code;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }
  function renumber(row, index) {
    row.setAttribute("data-row", String(index));
    row.querySelectorAll("[name]").forEach(function (el) {
      el.name = el.name.replace(/^(workers|jsa)\.\d+\./, "$1." + index + ".");
      if (el.id) { el.id = el.id.replace(/-\d+$/, "-" + index); }
      if (el.tagName === "SELECT") { el.selectedIndex = 0; } else { el.value = ""; }
    });
    row.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var type = document.getElementById("pt-type");
    if (!type) { return; }
    type.addEventListener("change", function () { showType(type.value); });
    showType(type.value);
    document.querySelectorAll("[data-add-row]").forEach(function (button) {
      button.addEventListener("click", function () {
        var box = document.getElementById(button.getAttribute("data-add-row"));
        var rows = box.querySelectorAll(".pt-row");
        if (!rows.length || rows.length >= 30) { return; }
        var copy = rows[rows.length - 1].cloneNode(true);
        renumber(copy, rows.length);
        box.insertBefore(copy, button);
      });
    });
  });
})();
