// Loaded after require.js and before the ipywidgets HTML manager (nb_ipywidgets_js in
// _config.yml); both it and this file are served by the book (_ext/offline_assets.py).
(function () {
  // 1. Fonts. The manager's stylesheet asks for its icon fonts relative to the URL that
  //    require.js gives its modules: by default the page's own folder, where the fonts
  //    are not (and which differs from page to page). Resolve the modules next to this
  //    file instead, where embed-amd.js and its fonts are copied
  //    (_static/widgets/@jupyter-widgets/), so the fonts are found from every page.
  var here = document.currentScript.src;
  require.config({
    baseUrl: here.slice(0, here.lastIndexOf("/") + 1),
    paths: {
      // Both modules that carry the stylesheet resolve into that same folder.
      "@jupyter-widgets/html-manager/dist/libembed-amd": "@jupyter-widgets/libembed-amd",
    },
  });

  // 2. Maths in widget labels. The widgets typeset their labels with the MathJax 2 call
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]) whenever window.MathJax
  //    exists; the book loads MathJax 3, which has no Hub, so that call would throw.
  //    Once MathJax 3 has loaded (it is deferred: before DOMContentLoaded, and widgets
  //    render after it, on load), give it a Hub.Queue that typesets the element.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || typeof mathjax.typesetPromise !== "function") return;
    mathjax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        if (!element) return;
        mathjax.startup.promise
          .then(function () { return mathjax.typesetPromise([element]); })
          .catch(function (error) { console.warn("MathJax could not typeset a widget label:", error); });
      },
    };
  });
})();
