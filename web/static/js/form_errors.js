// Show an API error at the form fields it names ([data-error-for] next to each input), or at
// the form's first error slot when it names none.
import { $$ } from "./util.js";

export function clearErrors(form) {
  for (const slot of $$("[data-error-for]", form)) slot.textContent = "";
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
}

export function showErrors(form, error) {
  clearErrors(form);
  const items = typeof error.fieldErrors === "function" ? error.fieldErrors() : [{ path: "", msg: error.message }];
  for (const { path, msg } of items) {
    const name = path.split(".").pop();
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`) || form.querySelector("[data-error-for]");
    const text = msg.replace(new RegExp(`^${name}: `), "");
    slot.textContent = slot.textContent ? `${slot.textContent}; ${text}` : text;
    const input = form.elements[name];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
}
