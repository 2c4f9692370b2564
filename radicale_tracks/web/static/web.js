// A little help on top of plain forms: everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // filters and pickers apply as soon as they change
  for (const element of document.querySelectorAll("[data-autosubmit]")) {
    element.addEventListener("change", () => {
      const form = element.form;
      const refresh = form.querySelector('button[value="refresh"]');
      if (refresh) { refresh.click(); } else { form.submit(); }
    });
  }
  // forms that undo something ask first
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  }
  // read-only links select themselves, ready to copy
  for (const input of document.querySelectorAll("input[data-copy]")) {
    input.addEventListener("focus", () => input.select());
  }
  // log out: replace the browser's remembered credentials with wrong ones
  const logout = document.querySelector("[data-logout]");
  if (logout) {
    logout.addEventListener("click", async (event) => {
      event.preventDefault();
      try {
        await fetch(logout.href.replace(/logout$/, "api/me"),
                    {headers: {Authorization: "Basic " + btoa("logout:logout")}});
      } catch (e) { /* the page below says what to do */ }
      window.location.href = logout.href;
    });
  }
});
