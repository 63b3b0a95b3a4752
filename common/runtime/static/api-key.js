"use strict";
// The API key of this browser tab, for the platform's own pages (the dashboard, /docs).
//
// When the service answers 401 (keys are set: LAMBDA_READ_KEYS, LAMBDA_ADMIN_KEYS), the page
// shows a small form asking for a key, keeps the key in sessionStorage (this tab only, gone
// when it closes), and sends it as "Authorization: Bearer <key>" on every fetch after that.
// A key the service refuses (401 again) is forgotten and asked for again.

window.lambdaApiKey = (() => {
  const STORAGE = "lambda-api-key";
  let asking = null;

  const stored = () => sessionStorage.getItem(STORAGE);

  function withKey(options) {
    const key = stored();
    const headers = new Headers((options && options.headers) || {});
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return { ...options, headers };
  }

  function element(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // One form for all the fetches that were refused meanwhile: they all wait for one key.
  function askForKey(problem) {
    if (asking) return asking;
    asking = new Promise((resolve) => {
      const form = element("form", { id: "api-key-form", class: "api-key-form" }, null);
      element("strong", {}, form, "This service needs an API key. ");
      const label = element("label", {}, form, "key ");
      const input = element("input", {
        id: "api-key-input", type: "password", autocomplete: "off", required: "", size: "40",
      }, label);
      element("button", { type: "submit", id: "api-key-submit" }, form, "Use key");
      if (problem) element("span", { id: "api-key-problem", class: "problem" }, form, ` ${problem}`);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        sessionStorage.setItem(STORAGE, input.value.trim());
        form.remove();
        asking = null;
        resolve();
      });
      document.body.prepend(form);
      input.focus();
    });
    return asking;
  }

  // fetch(), with the tab's key; on a 401 it asks for a key and tries again. ``options`` may
  // be a function that makes them, called for each try (a timeout signal starts anew).
  async function fetchWithKey(url, options) {
    for (;;) {
      const response = await fetch(url, withKey(typeof options === "function" ? options() : options));
      if (response.status !== 401) return response;
      const refused = Boolean(stored());
      sessionStorage.removeItem(STORAGE);
      await askForKey(refused ? "that key was refused" : "");
    }
  }

  return { fetch: fetchWithKey, key: stored };
})();
