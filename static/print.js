// The "Print" button of the backup-codes page: shown only where scripts run, since printing
// needs one (the page's Content-Security-Policy allows only Tessera's own script files).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });
});
