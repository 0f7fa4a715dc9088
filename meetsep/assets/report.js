// meetsep report: seeking, the playhead, the current turn and the search box. No libraries, no network.
(function () {
  "use strict";
  var audio = document.getElementById("audio");
  var timeline = document.getElementById("tl");
  var playhead = document.getElementById("playhead");
  var list = document.getElementById("turns");
  var rows = list ? Array.prototype.slice.call(list.children) : [];
  var starts = rows.map(function (row) { return parseFloat(row.dataset.t); });
  var duration = timeline ? parseFloat(timeline.dataset.duration) : 0;

  // Embedded audio: base64 in a script element, turned into a Blob URL (decoded off the main thread).
  var embedded = document.getElementById("audio-data");
  if (audio && embedded) {
    fetch("data:" + embedded.dataset.mime + ";base64," + embedded.textContent.trim())
      .then(function (response) { return response.blob(); })
      .then(function (blob) { audio.src = URL.createObjectURL(blob); })
      .catch(function (error) { console.warn("meetsep: audio not loaded", error); });
  }

  function seek(seconds) {
    if (!audio) return;
    audio.currentTime = Math.max(0, seconds);
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () {}); // autoplay refused: the seek stays
  }

  // Clicks: a turn, a [data-seek] element (overlap and dead-air rows), or the timeline.
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-t],[data-seek]");
    if (target && !target.closest("#tl")) {
      seek(parseFloat(target.dataset.t || target.dataset.seek));
    }
  });
  if (timeline) {
    timeline.addEventListener("click", function (event) {
      var box = timeline.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * duration);
    });
  }

  // The playhead and the current turn follow the audio.
  var current = null;
  function lastStartBefore(time) {
    var low = 0, high = starts.length - 1, found = -1;
    while (low <= high) {
      var middle = (low + high) >> 1;
      if (starts[middle] <= time) { found = middle; low = middle + 1; } else { high = middle - 1; }
    }
    return found;
  }
  if (audio) {
    audio.addEventListener("timeupdate", function () {
      var time = audio.currentTime;
      if (playhead) { playhead.setAttribute("x1", time); playhead.setAttribute("x2", time); }
      var index = lastStartBefore(time);
      var row = index >= 0 ? rows[index] : null;
      if (row !== current) {
        if (current) current.classList.remove("now");
        if (row) row.classList.add("now");
        current = row;
      }
    });
  }

  // Search: case-insensitive substring of a turn's speaker or words; filtering waits for a pause in typing.
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var texts = null;
  var pending = 0;
  function filter() {
    var query = search.value.trim().toLowerCase();
    if (texts === null) texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var hide = query !== "" && texts[i].indexOf(query) < 0;
      if (rows[i].hidden !== hide) rows[i].hidden = hide;
      if (!hide) count++;
    }
    shown.textContent = query ? count + " of " + rows.length + " turns" : rows.length + " turns";
  }
  if (search) {
    search.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(filter, rows.length > 2000 ? 150 : 0);
    });
  }
  document.body.dataset.ready = "1";
})();
