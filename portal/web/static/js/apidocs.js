/* Starts the API documents of /docs (Swagger UI) and /redoc (ReDoc) from the vendored copies:
   a script file of ours, so the Content-Security-Policy allows it without inline scripts. */
(function () {
  "use strict";
  var swagger = document.getElementById("swagger-ui");
  if (swagger && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({url: swagger.dataset.spec, domNode: swagger, deepLinking: true, validatorUrl: null,
                            presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
  }
  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(redoc.dataset.spec, {disableSearch: false, hideDownloadButton: false}, redoc);
  }
})();
