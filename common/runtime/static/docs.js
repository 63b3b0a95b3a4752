"use strict";
// /docs: Swagger UI from the files this service ships (no CDN), fed the OpenAPI document
// fetched with the tab's API key (api-key.js), and sending that key on "Try it out".

(async () => {
  const response = await window.lambdaApiKey.fetch("/openapi.json", { cache: "no-store" });
  const root = document.getElementById("swagger-ui");
  if (!response.ok) {
    root.textContent = `/openapi.json answered ${response.status}: ${await response.text()}`;
    return;
  }
  window.SwaggerUIBundle({
    spec: await response.json(),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    requestInterceptor: (request) => {
      const key = window.lambdaApiKey.key();
      if (key && !request.headers.Authorization) request.headers.Authorization = `Bearer ${key}`;
      return request;
    },
  });
})();
