// Transforms page: the error table comes with the page (computed by the core); draw its chart.
import { tileErrorChart } from "../error_chart.js";
import { $ } from "../util.js";

const rows = JSON.parse($("#error-data").textContent);
tileErrorChart($("#chart-errors"), rows);
