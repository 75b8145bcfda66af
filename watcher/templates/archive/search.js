// The archive's search: every word typed must appear in a study's title or abstract (case and
// accents ignored). The data is window.ARCHIVE_INDEX from search-index.js, a classic script,
// because a page opened from disk (file://) may not fetch() files or load modules.
(function () {
  var index = window.ARCHIVE_INDEX || [];
  var box = document.getElementById("q");
  var list = document.getElementById("results");
  var count = document.getElementById("search-count");
  var limit = {{ search_limit }};
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var texts = index.map(function (e) { return fold(e.t + " " + e.a); });
  function run() {
    var words = fold(box.value).split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (!words.length) { count.textContent = ""; return; }
    var found = 0;
    for (var i = 0; i < index.length; i++) {
      if (!words.every(function (w) { return texts[i].indexOf(w) !== -1; })) continue;
      found++;
      if (found > limit) continue;
      var item = document.createElement("li");
      var date = document.createElement("span");
      date.className = "date";
      date.textContent = index[i].d + " ";
      var link = document.createElement("a");
      link.href = index[i].p;
      link.textContent = index[i].t;
      item.appendChild(date);
      item.appendChild(link);
      list.appendChild(item);
    }
    count.textContent = found + (found === 1 ? " study" : " studies") + " found" +
      (found > limit ? ", the newest " + limit + " shown" : "");
  }
  var asked = new URLSearchParams(location.search).get("q") ||
    new URLSearchParams(location.hash.slice(1)).get("q");
  if (asked) box.value = asked;
  box.addEventListener("input", run);
  run();
})();
