// A little help on top of plain forms: everything works without it.
"use strict";

// The zone this browser runs in ("" when it cannot tell).
function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return "";
  }
}

// Whether a searchable picker (<input list=…>) holds one of its options exactly.
function isListed(input) {
  const list = input.list;
  return Boolean(list) && Array.from(list.options).some((o) => o.value === input.value);
}

function refresh(form) {
  const button = form.querySelector('button[value="refresh"]');
  if (button) { button.click(); } else { form.submit(); }
}

// The week grid: a day switcher for phones, arrow keys by day and by time.
function weekGrid(table) {
  const form = table.closest("form");
  const shownField = form.querySelector('input[name="shown_day"]');
  const switches = Array.from(form.querySelectorAll(".day-switch button[data-day]"));
  const shownIndex = () => Number((table.className.match(/\bshow-(\d)\b/) || [0, 0])[1]);
  const show = (index) => {
    table.className = table.className.replace(/\bshow-\d\b/, "show-" + index);
    for (const button of switches) {
      const on = Number(button.dataset.day) === index;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      if (on && shownField) { shownField.value = button.value; }
    }
  };
  for (const button of switches) {
    button.addEventListener("click", (event) => {   // no round trip to switch days
      event.preventDefault();
      show(Number(button.dataset.day));
    });
  }
  const rows = Array.from(table.tBodies[0] ? table.tBodies[0].rows : []);
  const radioAt = (row, column) => {
    const cell = rows[row] && rows[row].cells[column];
    const radio = cell && cell.querySelector('input[type="radio"]');
    return radio && radio.offsetParent !== null ? radio : null;   // shown, not a phone's other day
  };
  const choose = (radio) => {
    radio.focus();
    if (!radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", {bubbles: true}));
    }
  };
  const moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
  table.addEventListener("keydown", (event) => {
    const radio = event.target;
    const move = moves[event.key];
    if (!move || !(radio instanceof HTMLInputElement) || radio.type !== "radio"
        || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    event.preventDefault();   // not the browser's own order (row by row, across days)
    const cell = radio.closest("td");
    let row = rows.indexOf(cell.parentElement);
    let column = cell.cellIndex;
    const width = cell.parentElement.cells.length;
    for (;;) {
      row += move[0];
      column += move[1];
      if (row < 0 || row >= rows.length || column < 1 || column >= width) { break; }
      const next = radioAt(row, column);
      if (next) { choose(next); return; }
    }
    // a phone shows one day: left and right go to the day before or after
    if (move[1] && switches.length && switches[0].offsetParent !== null) {
      const day = shownIndex() + move[1];
      if (day < 0 || day >= switches.length) { return; }
      show(day);
      const here = rows.indexOf(cell.parentElement);
      const order = rows.map((_, n) => n).sort((a, b) => Math.abs(a - here) - Math.abs(b - here));
      for (const n of order) {
        const next = radioAt(n, day + 1);
        if (next) { choose(next); return; }
      }
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // filters and pickers apply as soon as they change; a searchable picker only when
  // its value is one of its options (typing goes on until then; Update sends anything)
  for (const element of document.querySelectorAll("[data-autosubmit]")) {
    if (element.list) {
      element.addEventListener("input", (event) => {
        if (event.inputType === "insertReplacementText" && isListed(element)) {
          refresh(element.form);
        }
      });
    } else {
      element.addEventListener("change", () => refresh(element.form));
    }
  }
  // no zone remembered yet: this browser's zone, sent with the form (the server keeps
  // it); on the step with the picker, applied at once when the picker offers it
  const zone = browserZone();
  for (const field of document.querySelectorAll("input[data-browser-zone]")) {
    field.value = zone;
    const picker = field.form.querySelector('input[name="zone"][list]');
    if (zone && picker && picker.value !== zone) {
      const offered = picker.value;
      picker.value = zone;
      if (isListed(picker)) { refresh(field.form); } else { picker.value = offered; }
    }
  }
  for (const table of document.querySelectorAll("table[data-week]")) { weekGrid(table); }
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
