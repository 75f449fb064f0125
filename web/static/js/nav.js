// Header: the project switcher and log out.
import { api } from "./api.js";
import { $ } from "./util.js";

const PROJECT_PAGES = { runs: "/runs", new: "/runs/new", pareto: "/pareto", team: "/team" };

const select = $("#project-select");
if (select) {
  select.addEventListener("change", () => {
    if (!select.value) return;
    const page = PROJECT_PAGES[select.dataset.page] || "/runs";
    location.assign(`${page}?project=${encodeURIComponent(select.value)}`);
  });
}

const logout = $("#logout");
if (logout) {
  logout.addEventListener("click", async () => {
    try {
      await api.logout();
    } finally {
      location.assign("/login");
    }
  });
}
