// Leadline dashboard: progressive enhancement only. Every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A form submitted once cannot be submitted again while its answer loads.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = true;
    });
  }
  // Forms that ask first (data-confirm="question").
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    }, { capture: true });
  }
  // On a lead's page, mark the compliance answer for the channel and purpose chosen.
  const channel = document.getElementById("channel");
  const purpose = document.getElementById("purpose");
  const rows = document.querySelectorAll(".answers tbody tr");
  const mark = () => {
    for (const row of rows) {
      const cells = row.querySelectorAll("td");
      const chosen = cells[0].textContent === channel.value && cells[1].textContent === purpose.value;
      row.classList.toggle("chosen", chosen);
    }
  };
  if (channel && purpose && rows.length) {
    channel.addEventListener("change", mark);
    purpose.addEventListener("change", mark);
    mark();
  }
});
