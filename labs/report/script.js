(function () {
  "use strict";
  var svg = document.getElementById("ladder");
  if (!svg) return;
  var rowH = +svg.dataset.row, headH = +svg.dataset.head;
  var arrows = Array.prototype.slice.call(svg.querySelectorAll("g.arrow"));
  var folds = Array.prototype.slice.call(svg.querySelectorAll("g.fold"));
  var links = Array.prototype.slice.call(svg.querySelectorAll("path.announce"));
  var details = document.getElementById("details");
  var button = document.getElementById("fold");
  var folded = true;
  var byEv = {};
  arrows.forEach(function (a) { byEv[a.dataset.ev] = a; });
  var foldAt = {};
  folds.forEach(function (f) { foldAt[f.dataset.at] = f; });

  // layout places the visible rows one under another.
  function layout() {
    var row = 0, yOf = {};
    arrows.forEach(function (a) {
      var f = foldAt[a.dataset.row];
      if (f) {
        f.style.display = folded ? "" : "none";
        if (folded) { f.setAttribute("transform", "translate(0," + (headH + rowH * ++row) + ")"); }
      }
      var hide = folded && a.classList.contains("chatter");
      a.style.display = hide ? "none" : "";
      if (!hide) {
        var y = headH + rowH * ++row;
        a.setAttribute("transform", "translate(0," + y + ")");
        yOf[a.dataset.ev] = y;
      }
    });
    links.forEach(function (p) {
      var y1 = yOf[p.dataset.from], y2 = yOf[p.dataset.to];
      if (y1 === undefined || y2 === undefined) { p.style.display = "none"; return; }
      p.style.display = "";
      var d = p.getAttribute("d").split(" ");
      var x0 = d[0].slice(1).split(",")[0];
      p.setAttribute("d", "M" + x0 + "," + y1 + " H" + p.dataset.gx + " V" + y2 + " H" + x0);
    });
    var h = headH + rowH * (row + 1);
    svg.setAttribute("height", h);
    var vb = svg.getAttribute("viewBox").split(" ");
    svg.setAttribute("viewBox", vb[0] + " " + vb[1] + " " + vb[2] + " " + h);
    svg.querySelectorAll("line.life").forEach(function (l) { l.setAttribute("y2", h); });
    if (button) button.textContent = folded ? "Show logins, TYPE and QUIT" : "Fold logins, TYPE and QUIT";
  }

  function clear() {
    svg.querySelectorAll(".hl,.sel").forEach(function (e) { e.classList.remove("hl", "sel"); });
  }

  // select shows an arrow's details; a data connection's arrows also
  // light up the lines that announced it.
  function select(a) {
    clear();
    a.classList.add("sel");
    details.textContent = a.dataset.info;
    if (a.dataset.ann) {
      arrows.forEach(function (b) {
        if (b.dataset.conn === a.dataset.conn && b.dataset.ann) b.classList.add("sel");
      });
      a.dataset.ann.split(" ").forEach(function (ev) {
        if (byEv[ev]) byEv[ev].classList.add("hl");
      });
      links.forEach(function (p) {
        var to = byEv[p.dataset.to];
        if (to && to.dataset.conn === a.dataset.conn) p.classList.add("hl");
      });
    }
  }

  arrows.forEach(function (a) {
    a.addEventListener("click", function () { select(a); });
    a.addEventListener("keydown", function (e) { if (e.key === "Enter") select(a); });
    a.addEventListener("mouseenter", function () { details.textContent = a.dataset.info; });
  });
  folds.forEach(function (f) { f.addEventListener("click", function () { folded = false; layout(); }); });
  if (button) button.addEventListener("click", function () { folded = !folded; layout(); });
  window.addEventListener("beforeprint", function () { folded = true; layout(); });
  layout();
})();
