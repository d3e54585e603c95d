# Configuration of a Jupyter app started as a service: JupyterLab (`jupyterlab`) or Jupyter
# Notebook (`notebook`), written by krunner's python runner for one start. The agent's app
# proxy authenticates the user and reaches the app at the container's address, so the app
# listens on every interface, on exactly the service port, without a token of its own.
# Apps on Jupyter Server (JupyterLab 3 and later, Notebook 7 and later) take ServerApp
# options; older ones take NotebookApp options. Each gets only its own names, so neither
# warns about options that moved.
from importlib.metadata import PackageNotFoundError, version

APP_MODULE = "@MODULE@"
PORT = @PORT@


def major(distribution):
    try:
        return int(version(distribution).split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


if APP_MODULE == "notebook":
    on_jupyter_server = major("notebook") >= 7
else:
    on_jupyter_server = major("jupyterlab") >= 3
app = c.ServerApp if on_jupyter_server else c.NotebookApp  # noqa: F821 (c is the config)

app.ip = "0.0.0.0"
app.port = PORT
# Another free port would be a port nobody proxies to: fail instead.
app.port_retries = 0
app.open_browser = False
app.allow_root = True
if on_jupyter_server and major("jupyter_server") >= 2:
    c.IdentityProvider.token = ""  # noqa: F821
else:
    app.token = ""
# The web UI shows apps in a frame; keep websockets alive through proxies that close idle
# connections (milliseconds).
app.tornado_settings = {
    "headers": {"Content-Security-Policy": "frame-ancestors * 'self'"},
    "ws_ping_interval": 10000,
}
c.FileContentsManager.delete_to_trash = False  # noqa: F821
