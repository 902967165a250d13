// picexchange console: the only script. Everything works without it; it asks before a form marked
// data-confirm is sent (giving up an outbox message).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
