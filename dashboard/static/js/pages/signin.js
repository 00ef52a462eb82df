// Signing in with an API key.
import {h, replace, field, notice} from '../dom.js';

// showSignIn shows the form in main; onSubmit({api_key}) signs in and
// throws on refusal, whose message the form shows.
export function showSignIn(main, message, onSubmit) {
  document.title = 'Sign in · Herald';
  const input = h('input', {name: 'api_key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    id: 'api-key'});
  const error = h('div', {id: 'sign-in-error', class: 'notice notice-error', role: 'alert', hidden: true});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {id: 'sign-in-form', class: 'card narrow', novalidate: true},
    field('API key', input, 'A Herald key (hrld_…) with at least the read scope. herald dev prints a link that signs you in, and keeps its key in .herald/admin.key.'),
    error, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      showError(error, 'Enter an API key.');
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await onSubmit({api_key: key});
    } catch (err) {
      showError(error, err.status === 429 ? `${err.message}. Wait a few seconds and try again.` : err.message);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(main,
    h('h1', {tabindex: '-1'}, 'Sign in'),
    message ? notice('info', message) : null,
    h('p', {}, 'The key is kept in a cookie this page cannot read, for this browser, for 12 hours at most. Signing out forgets it.'),
    form);
  input.focus();
}

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}
