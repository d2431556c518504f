import gc

from dify_plugin import DifyPluginEnv, Plugin

plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=120))

if __name__ == "__main__":
    # A fleet's answer through Prometheus builds tens of thousands of small objects, nearly
    # all freed by reference counting: left at the defaults, Python's garbage collector ran
    # dozens of times per answer and walked the SDK's start-up objects each time (about a
    # quarter of the plugin's CPU time for gpu_status on 1,000 GPUs). Those are frozen out.
    gc.freeze()
    gc.set_threshold(100_000, 50, 10)
    plugin.run()
