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
  // working hours: rows are added and removed here; without a script, blank rows wait
  for (const day of document.querySelectorAll("fieldset[data-day]")) { rangeRows(day); }
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

// One weekday's range rows: blank ones hidden, a Remove button on each row, an "Add a
// range" button below. A removed row is emptied and hidden (not deleted), so the
// numbers of the rows the server reads stay those the page was drawn with.
function rangeRows(day) {
  const name = day.dataset.name;
  const max = Number(day.dataset.max);
  const rows = () => Array.from(day.querySelectorAll("[data-row]"));
  const blank = (row) => Array.from(row.querySelectorAll("input")).every((i) => !i.value);
  const off = document.createElement("p");
  off.className = "off";
  off.textContent = "Day off";
  const add = document.createElement("button");
  add.type = "button";
  add.className = "link";
  add.textContent = "+ Add a range";
  add.setAttribute("aria-label", "Add a range to " + name);
  const update = () => {
    const shown = rows().filter((row) => !row.hidden).length;
    off.hidden = shown > 0;
    add.hidden = shown >= max;
  };
  const withRemove = (row) => {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "\u00d7";
    remove.addEventListener("click", () => {
      for (const input of row.querySelectorAll("input")) { input.value = ""; }
      row.hidden = true;
      update();
      add.focus();
    });
    row.append(remove);
    label(row);
  };
  const label = (row) => {
    const number = rows().indexOf(row) + 1;
    row.querySelector("button.remove").setAttribute(
      "aria-label", "Remove " + name + " range " + number);
  };
  for (const row of rows()) {
    withRemove(row);
    if (blank(row) && !row.querySelector("[aria-invalid]")) { row.hidden = true; }
  }
  add.addEventListener("click", () => {
    let row = rows().find((r) => r.hidden);
    if (!row) {
      const last = rows()[rows().length - 1];
      const number = rows().length;
      row = last.cloneNode(true);
      for (const input of row.querySelectorAll("input")) {
        const part = input.name.split("-")[2];
        input.id = input.name = day.dataset.day + "-" + number + "-" + part;
        input.value = "";
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      }
      for (const text of row.querySelectorAll("label")) {
        text.htmlFor = text.htmlFor.replace(/-\d+-/, "-" + number + "-");
        text.querySelector(".sr-only").textContent = name + ", range " + (number + 1) + ", ";
      }
      row.querySelector("button.remove").remove();
      last.after(row);
      withRemove(row);
    }
    row.hidden = false;
    update();
    row.querySelector("input").focus();
  });
  day.append(off, add);
  update();
}
