// Bootstraps GraphiQL for the AX Valley gateway. Loaded by index.html as an external script
// (no inline script, so it runs under `script-src 'self'`). Expects the globals React,
// ReactDOM and GraphiQL from the vendored UMD bundles loaded before it.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  if (!root || !window.React || !window.ReactDOM || !window.GraphiQL) {
    return;
  }
  var wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = window.GraphiQL.createFetcher({
    url: '/graphql',
    // graphql-ws is bundled in graphiql.min.js; the socket opens only for subscriptions.
    subscriptionUrl: wsScheme + '//' + window.location.host + '/graphql/ws',
  });
  // A shared link (/graphql?query=...&variables=...) opens with its query in the editor.
  var shared = new URLSearchParams(window.location.search);
  var props = { fetcher: fetcher, defaultEditorToolsVisibility: true };
  if (shared.has('query')) {
    props.query = shared.get('query');
  }
  if (shared.has('variables')) {
    props.variables = shared.get('variables');
  }
  window.ReactDOM.createRoot(root).render(window.React.createElement(window.GraphiQL, props));
})();
