// Renders the API reference from the document this page names (data-spec): no external URL, and
// no inline script, so the page's Content-Security-Policy can forbid them.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
