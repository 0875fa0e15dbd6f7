/* The inbox's filters fold away on a phone so that the conversations come first. Loaded right
   after the <details> (not deferred), so it runs before the first paint: no jump. Without
   JavaScript the filters simply stay open. */
(function () {
  "use strict";
  var fold = document.getElementById("filter-fold");
  if (fold && window.matchMedia("(max-width: 800px)").matches) {
    fold.open = false;
  }
})();
