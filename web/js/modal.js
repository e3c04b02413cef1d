// Modal <dialog> behaviour shared by the panels: showModal() makes the rest
// of the page inert; we also keep Tab cycling inside the dialog, close on
// Escape (the dialog's cancel event) and give focus back to the opener.
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), '
  + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function visibleFocusable(dialog) {
  return [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
}

export function makeModal(dialog, { onOpen, onClose } = {}) {
  let opener = null;

  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const items = visibleFocusable(dialog);
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });

  // A click on the backdrop (the dialog box itself, outside its content) closes.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });

  dialog.addEventListener('close', () => {
    if (onClose) onClose();
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  });

  return {
    open(from) {
      if (dialog.open) return;
      opener = from || document.activeElement;
      dialog.showModal();
      if (onOpen) onOpen();
    },
    // `value` becomes the dialog's returnValue (a yes/no question reads it).
    close(value) { if (dialog.open) dialog.close(value); },
    isOpen() { return dialog.open; },
  };
}
