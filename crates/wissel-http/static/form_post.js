// OAuth 2.0 Form Post Response Mode: send the response to the client as soon as the page is
// ready. Without JavaScript the page's visible "Continue" button does the same.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.forms[0];
  if (form) {
    form.submit();
  }
});
