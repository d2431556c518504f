from dify_plugin import DifyPluginEnv, Plugin

# A dispatch checks one signature; an automatic subscription makes one call per collector.
plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=60))

if __name__ == "__main__":
    plugin.run()
