// passer's status page: fetch with the scheduler's token. When a call
// answers 401 the page asks for the token (once per load, or again on a
// user action), keeps it in sessionStorage (this tab only) and sends it as
// a Bearer header from then on.
"use strict";

const TOKEN_KEY = "passer-token";
let tokenAsked = false;

async function api(path, options) {
  const send = () => {
    const headers = new Headers((options && options.headers) || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.set("Authorization", "Bearer " + token);
    return fetch(path, Object.assign({ cache: "no-store" }, options, { headers }));
  };
  let response = await send();
  if (response.status === 401 && !tokenAsked) {
    tokenAsked = true;
    const token = window.prompt("This scheduler asks for its token (the contents of its --token-file):");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      response = await send();
    }
  }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new Error("the scheduler wants its token (reload the page to enter it)");
  }
  return response;
}

// Before a user action: a 401 may ask for the token again.
function askTokenAgain() {
  tokenAsked = false;
}
