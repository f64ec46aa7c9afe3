# The launcher activity: asks for the camera, then shows the web app from the APK's assets in a full-screen WebView.
# Java equivalent:
#   requestPermissions(new String[]{"android.permission.CAMERA"}, 0);
#   WebView web = new WebView(this);
#   web.getSettings().setJavaScriptEnabled(true); ...setDomStorageEnabled(true); ...setMediaPlaybackRequiresUserGesture(false);
#   web.setWebViewClient(new AssetClient(getAssets())); web.setWebChromeClient(new CameraGrant());
#   web.loadUrl("https://appassets.androidplatform.net/web/index.html"); setContentView(web);
.class public Lcom/animetool/demo/MainActivity;
.super Landroid/app/Activity;

.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Landroid/app/Activity;-><init>()V
    return-void
.end method

.method protected onCreate(Landroid/os/Bundle;)V
    .registers 6
    invoke-super {p0, p1}, Landroid/app/Activity;->onCreate(Landroid/os/Bundle;)V

    # the camera permission (a runtime permission since Android 6); the page's getUserMedia waits for the answer
    const/4 v0, 0x1
    new-array v0, v0, [Ljava/lang/String;
    const/4 v1, 0x0
    const-string v2, "android.permission.CAMERA"
    aput-object v2, v0, v1
    invoke-virtual {p0, v0, v1}, Lcom/animetool/demo/MainActivity;->requestPermissions([Ljava/lang/String;I)V

    new-instance v0, Landroid/webkit/WebView;
    invoke-direct {v0, p0}, Landroid/webkit/WebView;-><init>(Landroid/content/Context;)V
    invoke-virtual {v0}, Landroid/webkit/WebView;->getSettings()Landroid/webkit/WebSettings;
    move-result-object v1
    const/4 v2, 0x1
    invoke-virtual {v1, v2}, Landroid/webkit/WebSettings;->setJavaScriptEnabled(Z)V
    invoke-virtual {v1, v2}, Landroid/webkit/WebSettings;->setDomStorageEnabled(Z)V
    const/4 v2, 0x0
    invoke-virtual {v1, v2}, Landroid/webkit/WebSettings;->setMediaPlaybackRequiresUserGesture(Z)V

    # every request to https://appassets.androidplatform.net/ is answered from the assets (a secure origin, so the
    # camera, ES modules and wasm all work, and nothing goes to the network)
    new-instance v1, Lcom/animetool/demo/AssetClient;
    invoke-virtual {p0}, Lcom/animetool/demo/MainActivity;->getAssets()Landroid/content/res/AssetManager;
    move-result-object v2
    invoke-direct {v1, v2}, Lcom/animetool/demo/AssetClient;-><init>(Landroid/content/res/AssetManager;)V
    invoke-virtual {v0, v1}, Landroid/webkit/WebView;->setWebViewClient(Landroid/webkit/WebViewClient;)V

    new-instance v1, Lcom/animetool/demo/CameraGrant;
    invoke-direct {v1}, Lcom/animetool/demo/CameraGrant;-><init>()V
    invoke-virtual {v0, v1}, Landroid/webkit/WebView;->setWebChromeClient(Landroid/webkit/WebChromeClient;)V

    const-string v1, "https://appassets.androidplatform.net/web/index.html"
    invoke-virtual {v0, v1}, Landroid/webkit/WebView;->loadUrl(Ljava/lang/String;)V
    invoke-virtual {p0, v0}, Lcom/animetool/demo/MainActivity;->setContentView(Landroid/view/View;)V
    return-void
.end method
