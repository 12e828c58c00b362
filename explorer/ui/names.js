// Accessible names for the app's figures. window.explorerNames maps a component's elem_id to what
// it shows (its label); each plot gets role="img" and an aria-label (the name and the figure's
// current title), each image its alt text. Gradio re-creates these nodes as values change, so a
// MutationObserver names them again, at most once an animation frame.
(() => {
  const names = window.explorerNames || {};
  let queued = false;
  function title(plot) {
    const text = plot.layout && plot.layout.title && plot.layout.title.text;
    return text ? String(text).replace(/<[^>]*>/g, "") : "";
  }
  function nameAll() {
    queued = false;
    for (const [id, name] of Object.entries(names)) {
      const block = document.getElementById(id);
      if (!block) continue;
      for (const image of block.querySelectorAll("img")) {
        if (image.alt !== name) image.alt = name;
      }
      for (const plot of block.querySelectorAll(".js-plotly-plot")) {
        const shown = title(plot);
        const label = shown && shown !== name ? `${name}: ${shown}` : name;
        if (plot.getAttribute("aria-label") !== label) {
          plot.setAttribute("role", "img");
          plot.setAttribute("aria-label", label);
        }
      }
    }
  }
  function queue() {
    if (!queued) {
      queued = true;
      requestAnimationFrame(nameAll);
    }
  }
  const start = () => new MutationObserver(queue).observe(document.body, { childList: true, subtree: true });
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
